"""The detection loss: BCE on classes against the assigner's IoU-aware soft targets, CIoU on
boxes and Distribution Focal Loss on the (l, t, r, b) bins, weighted as YOLOv8 does
(box 7.5, cls 0.5, dfl 1.5) and normalized by the sum of soft targets.

Pure function of the raw network maps and the batch targets; no state besides anchor caches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .assigner import TaskAlignedAssigner
from .boxes import box_ciou
from .model import ModelConfig, dfl_expectation, dist_to_xyxy, make_anchors


@dataclass
class LossParts:
    total: torch.Tensor
    box: float
    cls: float
    dfl: float
    positives: int


def dfl_loss(pred_dist: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distribution focal loss (Li et al. 2020): cross-entropy to the two bins around the
    continuous target, weighted by proximity. pred_dist [P, 4, R] logits, target [P, 4] in
    0..R-1 (exclusive of the top) -> [P] (mean over the four sides)."""
    tl = target.long()
    tr = tl + 1
    wl = tr.float() - target
    wr = 1 - wl
    r = pred_dist.shape[-1]
    logp = F.log_softmax(pred_dist.view(-1, r), -1)
    left = -logp.gather(1, tl.view(-1, 1)).view(tl.shape) * wl
    right = -logp.gather(1, tr.clamp(max=r - 1).view(-1, 1)).view(tl.shape) * wr
    return (left + right).mean(-1)


class DetectionLoss:
    def __init__(
        self,
        cfg: ModelConfig,
        box_gain: float = 7.5,
        cls_gain: float = 0.5,
        dfl_gain: float = 1.5,
        assigner: TaskAlignedAssigner | None = None,
    ) -> None:
        self.cfg = cfg
        self.box_gain = box_gain
        self.cls_gain = cls_gain
        self.dfl_gain = dfl_gain
        self.assigner = assigner or TaskAlignedAssigner()
        self._anchors: dict[
            tuple[tuple[tuple[int, int], ...], str], tuple[torch.Tensor, torch.Tensor]
        ] = {}

    def anchors(
        self, shapes: list[tuple[int, int]], device: torch.device | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The anchor points and strides of these level shapes, cached per device."""
        key = (tuple(shapes), str(device))
        if key not in self._anchors:
            self._anchors[key] = make_anchors(shapes, self.cfg.strides, device=device)
        return self._anchors[key]

    def split(self, raw: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw level maps -> DFL logits [B, N, 4*R] and class logits [B, N, nc]."""
        b = raw[0].shape[0]
        r, nc = self.cfg.reg_max, self.cfg.nc
        flat = torch.cat([x.reshape(b, 4 * r + nc, -1) for x in raw], 2).permute(0, 2, 1)
        return flat[..., : 4 * r], flat[..., 4 * r :]

    def __call__(self, raw: list[torch.Tensor], targets: torch.Tensor) -> LossParts:
        """targets: [B, M, 5] rows (class, x1, y1, x2, y2) in input pixels, class -1 = padding."""
        r = self.cfg.reg_max
        shapes = [(int(x.shape[2]), int(x.shape[3])) for x in raw]
        points, strides = self.anchors(shapes, raw[0].device)  # grid units, [N, 1]
        pred_dist, pred_cls = self.split(raw)
        b, n, _ = pred_cls.shape

        dist = dfl_expectation(pred_dist, r)  # [B, N, 4] stride units
        pred_boxes = dist_to_xyxy(dist, points)  # grid units

        gt_mask = targets[..., 0] >= 0
        gt_labels = targets[..., 0].long()
        gt_boxes = targets[..., 1:]
        a = self.assigner(
            pred_cls.detach().sigmoid(),
            (pred_boxes.detach() * strides),
            points * strides,
            strides,
            gt_labels,
            gt_boxes,
            gt_mask,
        )
        score_sum = a.target_scores.sum().clamp(min=1.0)
        loss_cls = (
            F.binary_cross_entropy_with_logits(
                pred_cls, a.target_scores.to(pred_cls.dtype), reduction="sum"
            )
            / score_sum
        )

        fg = a.fg_mask
        if bool(fg.any()):
            weight = a.target_scores.sum(-1)[fg]  # [P]
            target_grid = a.target_boxes / strides  # grid units per anchor
            ciou = box_ciou(pred_boxes[fg], target_grid[fg])
            loss_box = ((1.0 - ciou) * weight).sum() / score_sum
            pts = points.unsqueeze(0).expand(b, n, 2)[fg]
            tg = target_grid[fg]
            ltrb = torch.cat((pts - tg[:, :2], tg[:, 2:] - pts), -1).clamp(0, r - 1 - 0.01)
            loss_dfl = (dfl_loss(pred_dist[fg].view(-1, 4, r), ltrb) * weight).sum() / score_sum
        else:
            loss_box = pred_dist.sum() * 0.0
            loss_dfl = pred_dist.sum() * 0.0

        total = self.box_gain * loss_box + self.cls_gain * loss_cls + self.dfl_gain * loss_dfl
        return LossParts(
            total=total,
            box=float(loss_box.detach()),
            cls=float(loss_cls.detach()),
            dfl=float(loss_dfl.detach()),
            positives=int(fg.sum()),
        )
