"""Box geometry shared by the assigner, the loss and validation: IoU and CIoU on xyxy boxes.

Pure tensor math; broadcasting over leading dimensions.
"""

from __future__ import annotations

import math

import torch


def box_iou_pairwise(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """IoU of xyxy boxes ``a`` [..., 4] and ``b`` [..., 4] (broadcast) -> [...]."""
    ix1 = torch.maximum(a[..., 0], b[..., 0])
    iy1 = torch.maximum(a[..., 1], b[..., 1])
    ix2 = torch.minimum(a[..., 2], b[..., 2])
    iy2 = torch.minimum(a[..., 3], b[..., 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    area_a = (a[..., 2] - a[..., 0]).clamp(min=0) * (a[..., 3] - a[..., 1]).clamp(min=0)
    area_b = (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)
    return inter / (area_a + area_b - inter + eps)


def box_ciou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU (Zheng et al. 2020): IoU - centre distance² / enclosing diagonal² - αv.

    1 for identical boxes; may go down to -1 for far-apart boxes of different shape.
    """
    w1, h1 = a[..., 2] - a[..., 0], (a[..., 3] - a[..., 1]).clamp(min=eps)
    w2, h2 = b[..., 2] - b[..., 0], (b[..., 3] - b[..., 1]).clamp(min=eps)
    inter = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(
        min=0
    ) * (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0])
    ch = torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])
    c2 = cw.pow(2) + ch.pow(2) + eps
    rho2 = (
        (b[..., 0] + b[..., 2] - a[..., 0] - a[..., 2]).pow(2)
        + (b[..., 1] + b[..., 3] - a[..., 1] - a[..., 3]).pow(2)
    ) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def xyxy_to_cxcywh(b: torch.Tensor) -> torch.Tensor:
    return torch.cat(((b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]), -1)


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    return torch.cat((b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2), -1)
