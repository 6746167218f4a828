"""Loss values on hand-worked cases: CIoU, DFL, and the full detection loss on a perfect and on
a wrong prediction."""

from __future__ import annotations

import math

import torch

from visionloop_trainer.boxes import box_ciou, box_iou_pairwise
from visionloop_trainer.loss import DetectionLoss, dfl_loss
from visionloop_trainer.model import ModelConfig, make_anchors

NEG = -30.0


def test_iou_and_ciou_hand_values() -> None:
    a = torch.tensor([0.0, 0.0, 10.0, 10.0])
    assert abs(float(box_ciou(a, a)) - 1.0) < 1e-6
    # Same size, shifted by half a width: IoU = 50 / 150 = 1/3.
    b = torch.tensor([5.0, 0.0, 15.0, 10.0])
    assert abs(float(box_iou_pairwise(a, b)) - 1 / 3) < 1e-6
    # CIoU = IoU - centre distance² / enclosing diagonal² = 1/3 - 25 / (15² + 10²);
    # same aspect ratio, so the aspect term v is 0.
    assert abs(float(box_ciou(a, b)) - (1 / 3 - 25 / 325)) < 1e-6
    # Disjoint boxes: IoU 0, CIoU negative.
    c = torch.tensor([20.0, 20.0, 30.0, 30.0])
    assert float(box_iou_pairwise(a, c)) == 0.0
    assert float(box_ciou(a, c)) < -0.3


def test_dfl_loss_hand_values() -> None:
    r = 16
    # Target 2.0 with all mass on bin 2: -log(1) = 0.
    logits = torch.full((1, 4, r), NEG)
    logits[..., 2] = 0.0
    assert float(dfl_loss(logits, torch.full((1, 4), 2.0))) < 1e-6
    # Target 2.5 with mass split 50/50 on bins 2 and 3: the minimum, ln 2.
    logits = torch.full((1, 4, r), NEG)
    logits[..., 2] = 0.0
    logits[..., 3] = 0.0
    assert abs(float(dfl_loss(logits, torch.full((1, 4), 2.5))) - math.log(2)) < 1e-5
    # Uniform logits: -log(1/16) whatever the target.
    assert abs(float(dfl_loss(torch.zeros(1, 4, r), torch.full((1, 4), 7.3))) - math.log(16)) < 1e-5


def raw_for(
    cfg: ModelConfig, imgsz: int, gt: list[float], cls: int, shift: float = 0.0
) -> list[torch.Tensor]:
    """Raw head maps whose every point predicts ``gt`` shifted by ``shift`` px (as far as its
    distances can: the DFL range is 0..reg_max-1 strides), with class ``cls`` logits high inside
    the box and low elsewhere."""
    r = cfg.reg_max
    maps = []
    for s in cfg.strides:
        h = w = imgsz // s
        pts, _ = make_anchors([(h, w)], (s,))
        p = pts * s  # pixels
        box = torch.tensor(gt) + shift
        ltrb = (
            torch.stack((p[:, 0] - box[0], p[:, 1] - box[1], box[2] - p[:, 0], box[3] - p[:, 1]), 1)
            / s
        )
        ltrb = ltrb.clamp(0, r - 1 - 1e-4)
        lo = ltrb.floor().long()
        frac = ltrb - lo
        prob = torch.zeros(h * w, 4, r)
        prob.scatter_(2, lo.unsqueeze(-1), (1 - frac).unsqueeze(-1))
        prob.scatter_add_(2, (lo + 1).clamp(max=r - 1).unsqueeze(-1), frac.unsqueeze(-1))
        dist_logits = prob.clamp(min=1e-12).log()  # softmax(log p) = p: expectation = ltrb
        inside = (p[:, 0] > gt[0]) & (p[:, 0] < gt[2]) & (p[:, 1] > gt[1]) & (p[:, 1] < gt[3])
        cls_logits = torch.full((h * w, cfg.nc), NEG)
        cls_logits[inside, cls] = 8.0
        flat = torch.cat((dist_logits.view(h * w, 4 * r), cls_logits), 1)  # [HW, no]
        maps.append(flat.t().reshape(1, -1, h, w))
    return maps


def test_perfect_prediction_has_near_zero_box_loss_and_wrong_has_more() -> None:
    cfg = ModelConfig(nc=4)
    crit = DetectionLoss(cfg)
    gt = [96.0, 56.0, 136.0, 88.0]
    targets = torch.tensor([[[1.0] + gt]])
    perfect = crit(raw_for(cfg, 320, gt, 1), targets)
    assert perfect.positives >= 1
    assert perfect.box < 1e-4  # CIoU of identical boxes is 1
    # The DFL floor for these targets is their entropy (split bins): below ln 2 per side.
    assert perfect.dfl < math.log(2) + 1e-3

    shifted = crit(raw_for(cfg, 320, gt, 1, shift=12.0), targets)
    assert shifted.box > 0.2
    assert shifted.dfl > perfect.dfl
    wrong_class = crit(raw_for(cfg, 320, gt, 3), targets)
    assert wrong_class.cls > perfect.cls + 1.0
    assert float(shifted.total) > float(perfect.total)
    assert float(wrong_class.total) > float(perfect.total)


def test_background_only_image_has_only_a_class_loss() -> None:
    cfg = ModelConfig(nc=4)
    crit = DetectionLoss(cfg)
    raw = [
        torch.zeros(2, 4 * cfg.reg_max + 4, 320 // s, 320 // s, requires_grad=True)
        for s in cfg.strides
    ]
    targets = torch.full((2, 1, 5), -1.0)
    parts = crit(raw, targets)
    assert parts.positives == 0
    assert parts.box == 0.0 and parts.dfl == 0.0
    # Every one of the 2·2100·4 logits at 0 against target 0: BCE ln 2 each, normalized by 1.
    assert abs(parts.cls - 2 * 2100 * 4 * math.log(2)) < 1e-2
    parts.total.backward()  # differentiable even without positives
    assert raw[0].grad is not None
