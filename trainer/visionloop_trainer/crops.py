"""Crop data sets and the shared machinery of the two stage trainers (``classify.py``,
``segment.py``): reading ``visionloop synth crops`` output, seeding, augmentation, the epoch
loop's batching, ONNX export with a dynamic batch axis and Ultralytics-style metadata, and the
atomic write of ``model.onnx`` / ``weights.pt`` / ``metrics.json``.

Crop data set layout (src/synth/crop-export.ts): ``crops.json`` (``format``
``visionloop-crops-v1``, ``size``, ``names``), ``{train,val}.images.u8`` (N × S × S × 3 uint8
RGB), ``{train,val}.masks.u8`` (N × S × S, 1 = defect), ``{train,val}.jsonl`` (one record per
crop with ``classId``). Preprocessing = serving: RGB / 255, nothing else (the runtime resizes
the crop to S × S with the same bilinear resize the export used).
"""

from __future__ import annotations

import copy
import datetime as _dt
import io
import json
import os
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
import torch
from torch import nn

from . import __version__
from .device import model_device
from .events import TrainerError

CROPS_FORMAT = "visionloop-crops-v1"
OPSET = 13
STAGE_WEIGHTS_FORMAT = "visionloop-stage-weights"


@dataclass
class CropSplit:
    images: np.ndarray  # uint8 [N, S, S, 3]
    masks: np.ndarray  # uint8 [N, S, S]
    labels: np.ndarray  # int64 [N]
    records: list[dict[str, Any]]


@dataclass
class CropDataset:
    root: Path
    size: int
    names: list[str]
    train: CropSplit
    val: CropSplit | None
    meta: dict[str, Any]


def _read_split(root: Path, split: str, size: int, nc: int) -> CropSplit | None:
    jsonl = root / f"{split}.jsonl"
    if not jsonl.exists():
        return None
    records: list[dict[str, Any]] = []
    for n, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise TrainerError(f"{split}.jsonl line {n}: not JSON ({e.msg})") from None
        cls = record.get("classId") if isinstance(record, dict) else None
        if not isinstance(cls, int) or not 0 <= cls < nc:
            raise TrainerError(f"{split}.jsonl line {n}: classId {cls!r} out of range 0..{nc - 1}")
        records.append(record)
    count = len(records)
    arrays = []
    for kind, per in (("images", size * size * 3), ("masks", size * size)):
        path = root / f"{split}.{kind}.u8"
        if not path.exists():
            raise TrainerError(f"{path.name}: missing (the crop data set is incomplete)")
        data = np.fromfile(path, dtype=np.uint8)
        if data.size != count * per:
            raise TrainerError(
                f"{path.name}: {data.size} bytes, expected {count} crops × {per} = {count * per}"
            )
        arrays.append(data)
    images = arrays[0].reshape(count, size, size, 3)
    masks = arrays[1].reshape(count, size, size)
    if masks.size and masks.max() > 1:
        raise TrainerError(f"{split}.masks.u8: values must be 0 or 1, found {int(masks.max())}")
    labels = np.array([r["classId"] for r in records], dtype=np.int64)
    return CropSplit(images, masks, labels, records)


def load_crops(root: Path) -> CropDataset:
    """Reads a crop data set; a bad or incomplete one raises TrainerError naming the file."""
    root = Path(root)
    meta_path = root / "crops.json"
    if not meta_path.exists():
        raise TrainerError(f"{root}: no crops.json (write one with `visionloop synth crops`)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise TrainerError(f"crops.json: not JSON ({e.msg})") from None
    if not isinstance(meta, dict) or meta.get("format") != CROPS_FORMAT:
        raise TrainerError(f"crops.json: format must be '{CROPS_FORMAT}'")
    size = meta.get("size")
    names = meta.get("names")
    if not isinstance(size, int) or not 8 <= size <= 512:
        raise TrainerError(f"crops.json: size must be an integer in 8..512, got {size!r}")
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise TrainerError("crops.json: names must be a list of at least 2 class names")
    train = _read_split(root, "train", size, len(names))
    if train is None or len(train.records) == 0:
        raise TrainerError(f"{root}: the train split is empty (train.jsonl)")
    val = _read_split(root, "val", size, len(names))
    if val is not None and len(val.records) == 0:
        val = None
    return CropDataset(root, size, list(names), train, val, meta)


def seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)  # a no-op without CUDA
    torch.set_num_threads(max(1, threads))
    torch.use_deterministic_algorithms(True, warn_only=True)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, S, S, 3] → float32 [N, 3, S, S] in 0..1 (what the runtime feeds)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips/rotations of [..., H, W] (defects have no preferred orientation)."""
    if k & 4:
        x = x.flip(-1)
    return torch.rot90(x, k & 3, dims=(-2, -1))


def augment(
    images: torch.Tensor, masks: torch.Tensor | None, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-crop dihedral transform (same for the mask) and mild brightness/contrast ± 10 %."""
    out = torch.empty_like(images)
    out_masks = torch.empty_like(masks) if masks is not None else None
    ks = rng.integers(0, 8, size=images.shape[0])
    for i, k in enumerate(ks):
        out[i] = dihedral(images[i], int(k))
        if masks is not None and out_masks is not None:
            out_masks[i] = dihedral(masks[i], int(k))
    n = images.shape[0]
    gain = torch.from_numpy(rng.uniform(0.9, 1.1, size=(n, 1, 1, 1)).astype(np.float32))
    bias = torch.from_numpy(rng.uniform(-0.05, 0.05, size=(n, 1, 1, 1)).astype(np.float32))
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * gain + mean + bias).clamp_(0.0, 1.0)
    return out, out_masks


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (0.1 + 0.9 * step / max(1, warmup))
    t = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(1.0, t))))


def stage_metadata(
    task: str, names: list[str], size: int, version: str, description: str
) -> dict[str, str]:
    """``metadata_props`` as Ultralytics writes them (``str()`` of Python values), plus ours."""
    return {
        "description": description,
        "author": "VisionLoop",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
        "license": "Apache-2.0",
        "task": task,
        "batch": "-1",
        "dynamic": "True",
        "imgsz": str([size, size]),
        "names": str({i: n for i, n in enumerate(names)}),
        "channels": "3",
        "visionloop_version": version,
    }


def export_stage_onnx(model: nn.Module, size: int, metadata: dict[str, str]) -> bytes:
    """Checked ONNX bytes: input ``images`` [N, 3, S, S], output ``output0`` with a dynamic
    batch axis. ``model`` must return what the runtime reads (probabilities); it may live on any
    device (the export traces a CPU copy)."""
    m = copy.deepcopy(model).cpu().float().eval()
    for p in m.parameters():
        p.requires_grad_(False)
    dummy = torch.zeros(2, 3, size, size)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            m,
            dummy,
            buf,
            input_names=["images"],
            output_names=["output0"],
            dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buf.getvalue())
    proto.producer_name = "visionloop-trainer"
    proto.producer_version = __version__
    del proto.metadata_props[:]
    for k, v in metadata.items():
        entry = proto.metadata_props.add()
        entry.key = k
        entry.value = v
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def load_stage_weights(path: Path, task: str) -> dict[str, Any]:
    """A previous run's ``weights.pt`` of the same task (tensors only, never pickled code)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise TrainerError(f"--base {path}: not a readable weights file ({e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != STAGE_WEIGHTS_FORMAT:
        raise TrainerError(f"--base {path}: not a VisionLoop stage weights file")
    if ckpt.get("task") != task:
        raise TrainerError(f"--base {path}: weights of a {ckpt.get('task')} model, not {task}")
    return ckpt


def write_outputs(out: Path, onnx_bytes: bytes, weights: dict[str, Any], metrics: dict) -> None:
    """Writes model.onnx, weights.pt, metrics.json to hidden temp files, then renames all."""
    out.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    buf = io.BytesIO()
    torch.save(weights, buf)
    files = {
        "model.onnx": onnx_bytes,
        "weights.pt": buf.getvalue(),
        "metrics.json": (json.dumps(metrics, indent=2) + "\n").encode("utf-8"),
    }
    temps = {name: out / f".{name}.{pid}.tmp" for name in files}
    try:
        for name, data in files.items():
            temps[name].write_bytes(data)
        for name, tmp in temps.items():
            os.replace(tmp, out / name)
    finally:
        for tmp in temps.values():
            if tmp.exists():
                tmp.unlink()


def count_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


@dataclass
class StageOptions:
    data: Path
    out: Path
    base: Path | None = None
    epochs: int = 12
    batch: int = 64
    seed: int = 0
    threads: int = 2
    lr: float = 3e-3
    weight_decay: float = 1e-4
    augment: bool = True
    version: str = ""
    # auto | cpu | cuda | cuda:N; None: $VISIONLOOP_TRAINER_DEVICE, else auto (device.py).
    device: str | None = None


def train_loop(
    model: nn.Module,
    loss_fn: Any,
    split: CropSplit,
    opts: StageOptions,
    events: Any,
    check: Any,
    with_masks: bool,
    on_epoch: Any = None,
) -> list[dict[str, Any]]:
    """AdamW with warmup + cosine over ``opts.epochs``; the epoch order and every augmentation
    draw come from ``numpy.random.default_rng([seed, epoch])``. ``loss_fn(model, images,
    labels, masks)`` → scalar. Emits one ``epoch`` event per epoch (plus ``on_epoch(epoch)``'s
    fields); returns them."""
    import time

    n = len(split.records)
    steps_per_epoch = max(1, (n + opts.batch - 1) // opts.batch)
    total = steps_per_epoch * opts.epochs
    warmup = min(max(20, steps_per_epoch // 2), max(1, total // 5))
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": opts.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=opts.lr,
    )
    labels_all = torch.from_numpy(split.labels)
    device = model_device(model)
    history: list[dict[str, Any]] = []
    t0 = time.monotonic()
    step = 0
    for epoch in range(opts.epochs):
        model.train()
        rng = np.random.default_rng([opts.seed, epoch])
        order = rng.permutation(n)
        running = 0.0
        seen = 0
        for start in range(0, n, opts.batch):
            check()
            idx = np.sort(order[start : start + opts.batch])
            images = to_tensor(split.images[idx])
            masks = (
                torch.from_numpy(split.masks[idx]).float().unsqueeze(1) if with_masks else None
            )
            if opts.augment:
                images, masks = augment(images, masks, rng)
            # Batches are cut and augmented on the CPU (the numpy draws stay in order), then
            # moved to the model's device.
            images = images.to(device, non_blocking=True)
            if masks is not None:
                masks = masks.to(device, non_blocking=True)
            labels = labels_all[idx].to(device, non_blocking=True)
            lr = cosine_lr(step, total, opts.lr, warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = loss_fn(model, images, labels, masks)
            if not torch.isfinite(loss):
                raise TrainerError(f"loss diverged at epoch {epoch + 1} (lower --lr)")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            running += float(loss) * len(idx)
            seen += len(idx)
            step += 1
        elapsed = time.monotonic() - t0
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "epochs": opts.epochs,
            "loss": round(running / max(1, seen), 5),
            "lr": round(lr, 6),
            "images_per_s": round(seen * (epoch + 1) / max(elapsed, 1e-9), 1),
            "elapsed_s": round(elapsed, 2),
        }
        if on_epoch is not None:
            record.update(on_epoch(epoch + 1))
        events.emit("epoch", **record)
        history.append(record)
    return history


def predict(model: nn.Module, images: np.ndarray, batch: int = 256) -> torch.Tensor:
    """The model's exported output (probabilities) on uint8 crops, in eval mode, as a CPU
    tensor whatever device the model is on."""
    model.eval()
    device = model_device(model)
    outs = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            outs.append(model(to_tensor(images[start : start + batch]).to(device)).cpu())
    return torch.cat(outs) if outs else torch.empty(0)


def recalibrate_bn(model: nn.Module, images: np.ndarray, limit: int = 2048) -> nn.Module:
    """Re-estimates every BatchNorm's running statistics as the plain average over (up to
    ``limit``) unaugmented training crops, in place. A few hundred updates with momentum leave
    the running statistics behind the weights, and a small CNN trained on balanced batches
    then scores at chance in eval mode (measured: 100 % train-mode, 25 % eval-mode accuracy)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    device = model_device(model)
    with torch.no_grad():
        for start in range(0, min(limit, len(images)), 256):
            model(to_tensor(images[start : min(start + 256, limit)]).to(device))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.eval()
    return model


def periodic_val(
    model: nn.Module,
    data: CropDataset,
    opts: StageOptions,
    fields: Callable[[nn.Module], dict[str, Any]],
) -> Callable[[int], dict[str, Any]]:
    """``train_loop``'s ``on_epoch``: every 4th epoch, ``fields`` of a copy of the model with
    re-estimated BatchNorm statistics. The last epoch is skipped — it is evaluated once, after the
    final BN re-estimation — and so is every epoch when there is no val split."""

    def on_epoch(epoch: int) -> dict[str, Any]:
        if data.val is None or epoch % 4 or epoch == opts.epochs:
            return {}
        return fields(recalibrate_bn(copy.deepcopy(model), data.train.images))

    return on_epoch


def finish_stage_run(
    *,
    task: str,
    model: nn.Module,
    data: CropDataset,
    opts: StageOptions,
    names: list[str],
    config: dict[str, Any],
    description: str,
    val: dict[str, Any] | None,
    history: list[dict[str, Any]],
    summary: dict[str, Any],
    t0: float,
    train_seconds: float,
    check: Callable[[], None],
    device_info: dict[str, Any],
) -> dict[str, Any]:
    """Exports the trained stage model, writes model.onnx / weights.pt / metrics.json, and
    returns the ``done`` fields: the outputs' paths, ``summary`` (the task's key val metrics) with
    the last train loss, the elapsed time since ``t0`` (``time.monotonic()``) and the device it
    trained on (``device_info``: ``device.describe_device``)."""
    onnx_bytes = export_stage_onnx(
        model, data.size, stage_metadata(task, names, data.size, opts.version, description)
    )
    check()
    metrics = {
        "task": task,
        "version": opts.version,
        "names": names,
        "imgsz": data.size,
        "data": {
            "dir": str(data.root),
            "train": len(data.train.records),
            "val": len(data.val.records) if data.val else 0,
            "crops_json": data.meta,
        },
        "val": val,
        "model": {**config, "params": count_params(model), "onnx_bytes": len(onnx_bytes)},
        "run": {
            "epochs": opts.epochs,
            "batch": opts.batch,
            "seed": opts.seed,
            "lr": opts.lr,
            "threads": opts.threads,
            "augment": opts.augment,
            "base": str(opts.base) if opts.base else None,
            "train_seconds": round(train_seconds, 1),
            **device_info,
        },
        "history": history,
    }
    weights_file = {
        "format": STAGE_WEIGHTS_FORMAT,
        "task": task,
        "config": config,
        "names": names,
        "imgsz": data.size,
        # CPU tensors: a weights file written on a GPU box loads anywhere.
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": {"version": opts.version},
    }
    write_outputs(opts.out, onnx_bytes, weights_file, metrics)
    return {
        "model": str((opts.out / "model.onnx").resolve()),
        "weights": str((opts.out / "weights.pt").resolve()),
        "metrics": {**summary, "train_loss": history[-1]["loss"] if history else None},
        "elapsed_s": round(time.monotonic() - t0, 3),
        **device_info,
    }
