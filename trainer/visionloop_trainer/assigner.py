"""Task-aligned target assignment (TAL, as YOLOv8 and TOOD describe it), vectorized over the
batch, the ground-truth boxes and the anchor points: no Python loop over anchors.

For every ground-truth box, candidate anchor points are those whose centre lies inside the box;
at the finest stride, a box thinner than the stride is widened to one stride about its centre,
so a 3-px scratch that falls between two grid columns still gets candidates (Ultralytics'
in-box rule alone gives it none, and it would never be learned). Among the candidates the top-k by
alignment = score^alpha * IoU^beta become positives; an anchor claimed by several boxes keeps
the one it overlaps most. Soft class targets are the alignment, normalized per box so that its
best anchor's target equals that anchor's IoU.

Pure tensor math on given predictions: no I/O, no parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .boxes import box_iou_pairwise


@dataclass
class Assignment:
    target_boxes: torch.Tensor  # [B, N, 4] xyxy in input pixels (valid where fg)
    target_scores: torch.Tensor  # [B, N, nc] soft targets (zeros for background)
    fg_mask: torch.Tensor  # [B, N] bool
    target_gt_idx: torch.Tensor  # [B, N] index of the assigned gt box (valid where fg)


def candidate_mask(
    points: torch.Tensor, strides: torch.Tensor, gt_boxes: torch.Tensor, min_half: float = 0.5
) -> torch.Tensor:
    """[B, M, N] True where anchor point n is a candidate for gt box m.

    points: [N, 2] anchor centres in input pixels; strides: [N, 1]; gt_boxes: [B, M, 4] xyxy.
    At the finest stride, a box narrower than the stride is widened (about its centre) to
    ``2 * min_half`` strides in that direction; ``min_half = 0.5`` guarantees at least one
    point in each direction (points lie on a grid with one-stride spacing), boundaries
    included. Coarser levels keep the strict in-box rule, so no point there lies outside.
    """
    s = strides.view(1, 1, -1)  # [1, 1, N]
    finest = s == strides.min()
    px = points[:, 0].view(1, 1, -1)
    py = points[:, 1].view(1, 1, -1)
    x1, y1, x2, y2 = (gt_boxes[..., i : i + 1] for i in range(4))  # [B, M, 1]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    hw = torch.maximum((x2 - x1) / 2, min_half * s)
    hh = torch.maximum((y2 - y1) / 2, min_half * s)
    eps = 1e-9
    inside_x = (px - (cx - hw) > -eps) & ((cx + hw) - px > -eps)
    inside_y = (py - (cy - hh) > -eps) & ((cy + hh) - py > -eps)
    # Strictly inside for points exactly on a non-widened edge, as Ultralytics does.
    strict_x = (px - x1 > eps) & (x2 - px > eps)
    strict_y = (py - y1 > eps) & (y2 - py > eps)
    narrow_x = ((x2 - x1) / 2 < min_half * s) & finest
    narrow_y = ((y2 - y1) / 2 < min_half * s) & finest
    ok_x = torch.where(narrow_x, inside_x, strict_x)
    ok_y = torch.where(narrow_y, inside_y, strict_y)
    return ok_x & ok_y


class TaskAlignedAssigner:
    def __init__(self, topk: int = 10, alpha: float = 0.5, beta: float = 6.0) -> None:
        self.topk = topk
        self.alpha = alpha
        self.beta = beta
        self.eps = 1e-9

    @torch.no_grad()
    def __call__(
        self,
        pred_scores: torch.Tensor,  # [B, N, nc] sigmoid scores
        pred_boxes: torch.Tensor,  # [B, N, 4] xyxy input pixels
        points: torch.Tensor,  # [N, 2] input pixels
        strides: torch.Tensor,  # [N, 1]
        gt_labels: torch.Tensor,  # [B, M] long (>= 0 where valid)
        gt_boxes: torch.Tensor,  # [B, M, 4] xyxy input pixels
        gt_mask: torch.Tensor,  # [B, M] bool
    ) -> Assignment:
        b, n, nc = pred_scores.shape
        m = gt_boxes.shape[1]
        device = pred_scores.device
        if m == 0 or not bool(gt_mask.any()):
            return Assignment(
                torch.zeros(b, n, 4, device=device),
                torch.zeros(b, n, nc, device=device),
                torch.zeros(b, n, dtype=torch.bool, device=device),
                torch.zeros(b, n, dtype=torch.long, device=device),
            )

        cand = candidate_mask(points, strides, gt_boxes) & gt_mask.unsqueeze(-1)  # [B, M, N]
        labels = gt_labels.clamp(min=0)
        # Score of each anchor for the gt's class: [B, M, N].
        scores = pred_scores.gather(2, labels.unsqueeze(1).expand(b, n, m)).transpose(1, 2)
        iou = box_iou_pairwise(gt_boxes.unsqueeze(2), pred_boxes.unsqueeze(1)).clamp(min=0)
        iou = iou * cand
        align = scores.pow(self.alpha) * iou.pow(self.beta) * cand

        # Top-k among candidates only: non-candidates rank below every candidate.
        k = min(self.topk, n)
        ranked = torch.where(cand, align, torch.full_like(align, -1.0))
        top_idx = ranked.topk(k, dim=-1).indices  # [B, M, k]
        in_topk = torch.zeros_like(cand)
        in_topk.scatter_(-1, top_idx, True)
        pos = in_topk & cand  # [B, M, N]

        # An anchor claimed by several gts keeps the one with the highest IoU.
        multi = pos.sum(1) > 1  # [B, N]
        if bool(multi.any()):
            best = (iou * pos).argmax(1)  # [B, N]
            best_onehot = torch.nn.functional.one_hot(best, m).transpose(1, 2).bool()
            pos = torch.where(multi.unsqueeze(1), best_onehot & pos.any(1, keepdim=True), pos)
        fg = pos.any(1)  # [B, N]
        gt_idx = pos.float().argmax(1)  # [B, N]

        batch_ix = torch.arange(b, device=device).unsqueeze(1)
        target_boxes = gt_boxes[batch_ix, gt_idx]  # [B, N, 4]
        target_labels = labels[batch_ix, gt_idx]  # [B, N]

        # Normalize: per gt, the best anchor's soft target equals its (the best) IoU.
        align = align * pos
        max_align = align.amax(-1, keepdim=True)  # [B, M, 1]
        max_iou = (iou * pos).amax(-1, keepdim=True)
        norm = (align * max_iou / (max_align + self.eps)).amax(1)  # [B, N]
        target_scores = torch.zeros(b, n, nc, device=device)
        target_scores.scatter_(2, target_labels.unsqueeze(-1), 1.0)
        target_scores = target_scores * (fg.unsqueeze(-1) * norm.unsqueeze(-1))
        return Assignment(target_boxes, target_scores, fg, gt_idx)
