"""Target assignment on hand-built cases: which anchor points become positives, at which stride,
with which target box and soft score."""

from __future__ import annotations

import torch

from visionloop_trainer.assigner import TaskAlignedAssigner, candidate_mask
from visionloop_trainer.model import STRIDES, make_anchors

SIZE = 320
SHAPES = [(SIZE // s, SIZE // s) for s in STRIDES]


def anchors() -> tuple[torch.Tensor, torch.Tensor]:
    pts, strides = make_anchors(SHAPES, STRIDES)
    return pts * strides, strides  # pixels


def prior_boxes(points: torch.Tensor, strides: torch.Tensor, side: float = 2.0) -> torch.Tensor:
    """Each point predicts a square of ``side`` strides centred on itself: [1, N, 4]."""
    half = strides * side / 2
    return torch.cat((points - half, points + half), -1).unsqueeze(0)


def assign(gt: list[list[float]], labels: list[int], side: float = 2.0, score: float = 0.5):
    pts, st = anchors()
    n = pts.shape[0]
    pred_scores = torch.full((1, n, 4), score)
    gt_boxes = torch.tensor([gt], dtype=torch.float32)
    gt_labels = torch.tensor([labels])
    mask = torch.ones(1, len(gt), dtype=torch.bool)
    a = TaskAlignedAssigner(topk=10)(
        pred_scores, prior_boxes(pts, st, side), pts, st, gt_labels, gt_boxes, mask
    )
    return a, pts, st


def level_of(idx: torch.Tensor) -> list[int]:
    bounds = [0]
    for h, w in SHAPES:
        bounds.append(bounds[-1] + h * w)
    return [
        next(s for s, lo, hi in zip(STRIDES, bounds, bounds[1:]) if lo <= i < hi)
        for i in idx.tolist()
    ]


def test_small_box_gets_positives_at_stride_8_inside_the_box() -> None:
    box = [96.0, 56.0, 112.0, 72.0]  # 16×16 px: matches the stride-8 points' 16-px priors
    a, pts, st = assign([box], [2])
    fg = a.fg_mask[0].nonzero().flatten()
    assert set(level_of(fg)) == {8}
    # Stride-8 points lie at 4, 12, 20, ...: exactly four are inside, and they are the positives.
    assert sorted(map(tuple, pts[fg].tolist())) == [
        (100.0, 60.0),
        (100.0, 68.0),
        (108.0, 60.0),
        (108.0, 68.0),
    ]
    assert torch.allclose(a.target_boxes[0, fg], torch.tensor(box).expand(len(fg), 4))
    # Soft targets only in the gt's class, equal to the IoU of each point's box (4 px off: 9/23).
    ts = a.target_scores[0]
    assert float(ts[:, [0, 1, 3]].abs().sum()) == 0.0
    assert torch.allclose(ts[fg, 2], torch.full((4,), 144 / 368), atol=1e-5)
    # No positives and no class targets anywhere else.
    assert int(a.fg_mask.sum()) == 4
    assert float(ts[~a.fg_mask[0]].abs().sum()) == 0.0


def test_large_box_gets_positives_at_stride_32() -> None:
    box = [128.0, 128.0, 192.0, 192.0]  # 64×64: matches the stride-32 points' 64-px priors
    a, _, _ = assign([box], [0])
    fg = a.fg_mask[0].nonzero().flatten()
    levels = level_of(fg)
    assert levels.count(32) >= 1
    # The best-aligned point (highest soft target) is the stride-32 point at the box centre.
    best = fg[a.target_scores[0, fg, 0].argmax()]
    assert level_of(best.view(1)) == [32]


def test_thin_scratch_between_grid_lines_still_gets_a_positive() -> None:
    # 3 px wide, no point centre lies inside in x (columns at 100, 108 / 104 / 80, 112).
    box = [100.5, 40.0, 103.5, 90.0]
    pts, st = anchors()
    strict = (
        (pts[:, 0] > box[0]) & (pts[:, 0] < box[2]) & (pts[:, 1] > box[1]) & (pts[:, 1] < box[3])
    )
    assert int(strict.sum()) == 0  # Ultralytics' in-box rule would give no candidates at all
    a, pts, st = assign([box], [0], side=1.0)
    fg = a.fg_mask[0].nonzero().flatten()
    assert len(fg) >= 1
    # Positives sit on the column nearest the scratch, within half a stride of it.
    cx = (box[0] + box[2]) / 2
    assert bool(((pts[fg, 0] - cx).abs() <= st[fg, 0] / 2).all())
    assert bool(((pts[fg, 1] >= box[1]) & (pts[fg, 1] <= box[3])).all())


def test_candidate_mask_widens_only_narrow_boxes() -> None:
    pts, st = anchors()
    wide = torch.tensor([[[0.0, 0.0, 64.0, 64.0]]])
    m = candidate_mask(pts, st, wide)[0, 0]
    inside = (pts[:, 0] > 0) & (pts[:, 0] < 64) & (pts[:, 1] > 0) & (pts[:, 1] < 64)
    assert torch.equal(m, inside)  # 64 px is wider than every stride: plain in-box rule


def test_point_claimed_by_two_boxes_goes_to_the_better_overlap() -> None:
    a_box = [92.0, 92.0, 108.0, 108.0]
    b_box = [94.0, 86.0, 126.0, 118.0]  # overlaps a_box's points
    a, pts, _ = assign([a_box, b_box], [0, 1])
    fg = a.fg_mask[0]
    assert bool(fg.any())
    # Each positive has exactly one class with a non-zero target.
    ts = a.target_scores[0, fg]
    assert bool(((ts > 0).sum(-1) == 1).all())
    # The stride-8 point at (100, 100) predicts [92, 92, 108, 108]: identical to a_box.
    idx = int(
        ((pts[:, 0] == 100) & (pts[:, 1] == 100) & (torch.arange(len(pts)) < 1600)).nonzero()[0]
    )
    assert bool(fg[idx])
    assert int(a.target_gt_idx[0, idx]) == 0
    assert abs(float(a.target_scores[0, idx, 0]) - 1.0) < 1e-5  # IoU 1 → target 1


def test_no_ground_truth_means_no_positives() -> None:
    pts, st = anchors()
    n = pts.shape[0]
    a = TaskAlignedAssigner()(
        torch.rand(2, n, 4),
        prior_boxes(pts, st).expand(2, n, 4),
        pts,
        st,
        torch.full((2, 1), -1),
        torch.zeros(2, 1, 4),
        torch.zeros(2, 1, dtype=torch.bool),
    )
    assert int(a.fg_mask.sum()) == 0
    assert float(a.target_scores.sum()) == 0.0


def test_padding_rows_are_ignored_and_batches_are_independent() -> None:
    pts, st = anchors()
    n = pts.shape[0]
    gt = torch.tensor([[[96.0, 56.0, 112.0, 72.0], [0, 0, 0, 0]], [[0, 0, 0, 0], [0, 0, 0, 0]]])
    labels = torch.tensor([[1, -1], [-1, -1]])
    mask = labels >= 0
    a = TaskAlignedAssigner()(
        torch.full((2, n, 4), 0.5), prior_boxes(pts, st).expand(2, n, 4), pts, st, labels, gt, mask
    )
    assert int(a.fg_mask[0].sum()) == 4
    assert int(a.fg_mask[1].sum()) == 0
    assert bool((a.target_gt_idx[0, a.fg_mask[0]] == 0).all())
