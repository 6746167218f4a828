"""The crop classifier (``train-classify``): a small CNN that tells, for a crop around a
detection, ``not_defect`` or the defect's severity (``minor``, ``major``, ``critical``; class id
= severity). Exported in the Ultralytics ``-cls`` layout: input ``images`` [N, 3, S, S] RGB
0..1, output ``output0`` [N, nc] softmax probabilities, dynamic batch, metadata ``task`` =
``classify``.

Severity is a defect's real size, which the crop (always resized to S × S) shows only through
scale cues — stroke width, texture grain, noise and blur, all fixed in frame pixels — and
through the defect's shape (stains and dents are large, scratches and cracks thin).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

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

ARCH = "visionloop-cls-v1"
DEFAULT_WIDTHS = (16, 32, 64, 96)


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CropClassifier(nn.Module):
    """Four stages (stride 2 each) of two 3×3 conv-BN-ReLU, global average and max pooling, a
    linear head: ≈ 12 M multiply-adds per 64 × 64 crop. ``forward`` returns probabilities (the
    exported layout)."""

    def __init__(self, nc: int, widths: tuple[int, ...] = DEFAULT_WIDTHS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for i, w in enumerate(widths):
            layers += [conv_bn(cin, w, 2), conv_bn(w, w)]
            cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * cin, nc)
        self.nc = nc
        self.widths = tuple(widths)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)


def classification_metrics(
    probs: np.ndarray, labels: np.ndarray, names: list[str]
) -> dict[str, Any]:
    """Accuracy, per-class recall ("accuracy of the crops of that class"), precision and the
    confusion matrix (rows = truth, columns = prediction)."""
    pred = probs.argmax(axis=1)
    nc = len(names)
    confusion = np.zeros((nc, nc), dtype=np.int64)
    for t, p in zip(labels, pred):
        confusion[t, p] += 1
    per_class = {}
    for c, name in enumerate(names):
        support = int(confusion[c].sum())
        predicted = int(confusion[:, c].sum())
        per_class[name] = {
            "support": support,
            "accuracy": round(confusion[c, c] / support, 4) if support else None,
            "precision": round(confusion[c, c] / predicted, 4) if predicted else None,
        }
    # Severity is ordinal: how often the prediction is off by more than one class.
    return {
        "crops": int(len(labels)),
        "accuracy": round(float((pred == labels).mean()), 4) if len(labels) else None,
        "per_class": per_class,
        "within_one_class": round(float((np.abs(pred - labels) <= 1).mean()), 4)
        if len(labels)
        else None,
        "veto_accuracy": round(float(((pred == 0) == (labels == 0)).mean()), 4)
        if len(labels)
        else None,
        "confusion": confusion.tolist(),
    }


def evaluate_classifier(model: CropClassifier, split: CropSplit, names: list[str]) -> dict:
    probs = predict(model, split.images).numpy()
    return classification_metrics(probs, split.labels, names)


def run_classify_training(
    opts: StageOptions, events: EventStream, check: Callable[[], None]
) -> dict[str, Any]:
    """Trains, evaluates on the val split, writes the three outputs; returns the done fields."""
    t0 = time.monotonic()
    device = resolve_device(opts.device)  # before the data: a missing GPU fails at once
    device_info = describe_device(device)
    prepare_device(device, opts.seed)
    seed_everything(opts.seed, opts.threads)
    data = load_crops(opts.data)
    names = data.names
    widths = DEFAULT_WIDTHS
    base_state = None
    if opts.base is not None:
        ckpt = load_stage_weights(opts.base, "classify")
        if list(ckpt["names"]) != names:
            raise TrainerError(f"--base {opts.base}: classes {ckpt['names']} differ from {names}")
        widths = tuple(ckpt["config"]["widths"])
        base_state = ckpt["state_dict"]
    model = CropClassifier(len(names), widths)
    if base_state is not None:
        model.load_state_dict(base_state)
    model.to(device)
    counts = np.bincount(data.train.labels, minlength=len(names))
    events.emit(
        "start",
        task="classify",
        arch=ARCH,
        names=names,
        imgsz=data.size,
        epochs=opts.epochs,
        batch=opts.batch,
        seed=opts.seed,
        train_crops=len(data.train.records),
        val_crops=len(data.val.records) if data.val else 0,
        train_per_class=dict(zip(names, counts.tolist())),
        params=count_params(model),
        base=str(opts.base) if opts.base else None,
        threads=opts.threads,
        **device_info,
    )
    # Inverse-frequency class weights (capped) keep a rare class from being ignored.
    weights = torch.tensor(
        np.clip(counts.sum() / np.maximum(counts, 1) / len(names), 0.5, 3.0),
        dtype=torch.float32,
        device=device,
    )

    def loss_fn(m: CropClassifier, images: torch.Tensor, labels: torch.Tensor, _: Any):
        return F.cross_entropy(m.logits(images), labels, weight=weights, label_smoothing=0.05)

    on_epoch = periodic_val(
        model,
        data,
        opts,
        lambda probe: {"val_accuracy": evaluate_classifier(probe, data.val, names)["accuracy"]},
    )

    history = train_loop(model, loss_fn, data.train, opts, events, check, False, on_epoch)
    recalibrate_bn(model, data.train.images)
    train_seconds = time.monotonic() - t0
    model.eval()
    val = evaluate_classifier(model, data.val, names) if data.val else None
    return finish_stage_run(
        task="classify",
        model=model,
        data=data,
        opts=opts,
        names=names,
        config={"arch": ARCH, "widths": list(widths), "nc": len(names)},
        description="VisionLoop crop classifier (Ultralytics -cls layout, softmax probabilities)",
        val=val,
        history=history,
        summary={
            "accuracy": val["accuracy"] if val else None,
            "per_class": {k: v["accuracy"] for k, v in val["per_class"].items()} if val else None,
        },
        t0=t0,
        train_seconds=train_seconds,
        check=check,
        device_info=device_info,
    )
