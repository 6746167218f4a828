"""The crop segmenter (``train-segment``): a small U-Net that gives, for a crop around a
detection, the defect's pixels. Exported as a plain per-crop mask model: input ``images``
[N, 3, S, S] RGB 0..1, output ``output0`` [N, 1, S, S] sigmoid probabilities (a pixel is
defect at ≥ 0.5), dynamic batch, metadata ``task`` = ``segment``.

The crop's defect area (what the chain's ``area-px`` / ``area-mm2`` rules use) is the count of
mask pixels scaled back to the frame, so besides mask IoU the run reports the area error,
|predicted − true| / true, on the held-out crops.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .classify import conv_bn
from .crops import (
    CropSplit,
    StageOptions,
    count_params,
    finish_stage_run,
    load_crops,
    load_stage_weights,
    periodic_val,
    predict,
    recalibrate_bn,
    seed_everything,
    train_loop,
)
from .device import describe_device, prepare_device, resolve_device
from .events import EventStream, TrainerError

ARCH = "visionloop-seg-v1"
DEFAULT_WIDTHS = (16, 32, 64)


class CropSegmenter(nn.Module):
    """Encoder of three stride-2 stages (two 3×3 conv-BN-ReLU each, S/2 … S/8), a decoder that
    upsamples and adds the skip connections, and a full-resolution refinement on the decoder's
    upsampled features concatenated with the input pixels (thin scratches are 1–3 px wide).
    ≈ 15 M multiply-adds per 64 × 64 crop. ``forward`` returns probabilities."""

    def __init__(self, widths: tuple[int, ...] = DEFAULT_WIDTHS) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.enc1 = nn.Sequential(conv_bn(3, w1, 2), conv_bn(w1, w1))
        self.enc2 = nn.Sequential(conv_bn(w1, w2, 2), conv_bn(w2, w2))
        self.enc3 = nn.Sequential(conv_bn(w2, w3, 2), conv_bn(w3, w3), conv_bn(w3, w3))
        self.lat3 = nn.Conv2d(w3, w2, 1)
        self.dec2 = conv_bn(w2, w2)
        self.lat2 = nn.Conv2d(w2, w1, 1)
        self.dec1 = conv_bn(w1, w1)
        self.lat1 = nn.Conv2d(w1, 8, 1)
        self.refine = nn.Sequential(conv_bn(8 + 3, 8), nn.Conv2d(8, 1, 1))
        self.widths = tuple(widths)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(F.interpolate(self.lat3(e3), scale_factor=2.0, mode="nearest") + e2)
        d1 = self.dec1(F.interpolate(self.lat2(d2), scale_factor=2.0, mode="nearest") + e1)
        up = F.interpolate(self.lat1(d1), scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.refine(torch.cat([up, x], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


def mask_metrics(prob: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """On crops with a defect: mean / median mask IoU and area error in % (|pred − true| /
    true, mask pixels); on crops without one: the share of pixels wrongly called defect."""
    pred = prob >= 0.5
    truth = truth.astype(bool)
    true_px = truth.reshape(len(truth), -1).sum(axis=1)
    pred_px = pred.reshape(len(pred), -1).sum(axis=1)
    inter = (pred & truth).reshape(len(truth), -1).sum(axis=1)
    union = (pred | truth).reshape(len(truth), -1).sum(axis=1)
    has = true_px > 0
    out: dict[str, Any] = {"defect_crops": int(has.sum()), "empty_crops": int((~has).sum())}
    if has.any():
        iou = inter[has] / np.maximum(union[has], 1)
        area_err = np.abs(pred_px[has] - true_px[has]) / true_px[has] * 100.0
        out.update(
            mean_iou=round(float(iou.mean()), 4),
            median_iou=round(float(np.median(iou)), 4),
            pixel_iou=round(float(inter[has].sum() / max(1, union[has].sum())), 4),
            area_error_pct_median=round(float(np.median(area_err)), 2),
            area_error_pct_mean=round(float(area_err.mean()), 2),
            area_error_pct_p90=round(float(np.percentile(area_err, 90)), 2),
        )
    if (~has).any():
        out["empty_false_px_share"] = round(float(pred_px[~has].sum() / pred[~has].size), 5)
    return out


def evaluate_segmenter(model: CropSegmenter, split: CropSplit) -> dict[str, Any]:
    prob = predict(model, split.images).numpy()[:, 0]
    result = mask_metrics(prob, split.masks)
    kinds: dict[str, list[int]] = {}
    for i, r in enumerate(split.records):
        if r.get("classId", 0) > 0:
            kinds.setdefault(str(r.get("kind", "?")), []).append(i)
    result["per_kind"] = {
        kind: {
            k: v
            for k, v in mask_metrics(prob[idx], split.masks[idx]).items()
            if k in ("defect_crops", "mean_iou", "area_error_pct_median")
        }
        for kind, idx in sorted(kinds.items())
    }
    return result


def run_segment_training(
    opts: StageOptions, events: EventStream, check: Callable[[], None]
) -> dict[str, Any]:
    """Trains, evaluates on the val split, writes the three outputs; returns the done fields."""
    t0 = time.monotonic()
    device = resolve_device(opts.device)  # before the data: a missing GPU fails at once
    device_info = describe_device(device)
    prepare_device(device, opts.seed)
    seed_everything(opts.seed, opts.threads)
    data = load_crops(opts.data)
    if data.size % 8:
        raise TrainerError(
            f"crops.json: the segmenter needs a crop size divisible by 8, got {data.size}"
        )
    widths = DEFAULT_WIDTHS
    base_state = None
    if opts.base is not None:
        ckpt = load_stage_weights(opts.base, "segment")
        widths = tuple(ckpt["config"]["widths"])
        base_state = ckpt["state_dict"]
    model = CropSegmenter(widths)
    if base_state is not None:
        model.load_state_dict(base_state)
    model.to(device)
    defect_share = float(data.train.masks.mean())
    events.emit(
        "start",
        task="segment",
        arch=ARCH,
        names=["defect"],
        imgsz=data.size,
        epochs=opts.epochs,
        batch=opts.batch,
        seed=opts.seed,
        train_crops=len(data.train.records),
        val_crops=len(data.val.records) if data.val else 0,
        defect_pixel_share=round(defect_share, 4),
        params=count_params(model),
        base=str(opts.base) if opts.base else None,
        threads=opts.threads,
        **device_info,
    )
    if defect_share == 0.0:
        raise TrainerError(f"{data.root}: no defect pixels in the train split's masks")

    def loss_fn(m: CropSegmenter, images: torch.Tensor, _: Any, masks: Any) -> torch.Tensor:
        logits = m.logits(images)
        bce = F.binary_cross_entropy_with_logits(logits, masks)
        # Soft Dice over the batch: area matters as much as pixels, and BCE alone under-calls
        # thin defects (a few % of the crop).
        prob = torch.sigmoid(logits)
        dice = 1 - (2 * (prob * masks).sum() + 1) / (prob.sum() + masks.sum() + 1)
        return bce + dice

    on_epoch = periodic_val(
        model,
        data,
        opts,
        lambda probe: {"val_mean_iou": evaluate_segmenter(probe, data.val).get("mean_iou")},
    )

    history = train_loop(model, loss_fn, data.train, opts, events, check, True, on_epoch)
    recalibrate_bn(model, data.train.images)
    train_seconds = time.monotonic() - t0
    val = evaluate_segmenter(model, data.val) if data.val else None
    keys = ("mean_iou", "area_error_pct_median", "area_error_pct_mean")
    return finish_stage_run(
        task="segment",
        model=model,
        data=data,
        opts=opts,
        names=["defect"],
        config={"arch": ARCH, "widths": list(widths)},
        description="VisionLoop crop segmenter (per-crop mask [N, 1, S, S], sigmoid probabilities)",
        val=val,
        history=history,
        summary={k: val.get(k) for k in keys} if val else {k: None for k in keys},
        t0=t0,
        train_seconds=train_seconds,
        check=check,
        device_info=device_info,
    )
