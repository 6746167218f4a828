"""The training run: dataset → model (from scratch or warm-started from ``weights.pt``) →
AdamW with warmup + cosine, EMA of weights → validation mAP → ``model.onnx``, ``weights.pt``
and ``metrics.json`` written atomically into the output directory.

Reports through the EventStream it is given; checks for cancellation at every batch boundary.
It never writes anywhere but the output directory, and there only complete files.
"""

from __future__ import annotations

import copy
import datetime as _dt
import io
import json
import math
import os
import queue
import random
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from . import __version__
from .dataset import (
    AugmentConfig,
    Batch,
    DatasetSpec,
    ImageStore,
    collect_samples,
    iterate_batches,
    load_dataset_spec,
)
from .device import describe_device, model_device, prepare_device, resolve_device
from .events import EventStream, TrainerError, log
from .export import export_onnx, metadata_for
from .loss import DetectionLoss
from .metrics import ImageResult, evaluate, nms
from .model import ARCH_NAME, Detector, ModelConfig, count_gflops, count_params

WEIGHTS_FORMAT = "visionloop-weights"
WEIGHTS_FORMAT_VERSION = 1

MODEL_PRESETS: dict[str, dict[str, Any]] = {
    # ~0.64 GFLOPs, 0.63 M parameters at 320: the default, > 60 FPS on 2 cores.
    "n": {"widths": (16, 24, 48, 64, 96), "depths": (1, 1, 1, 1), "head_width": 32},
    # ~0.87 GFLOPs, 0.89 M parameters: a little more capacity when FPS allows.
    "s": {"widths": (16, 32, 48, 80, 112), "depths": (1, 1, 1, 1), "head_width": 40},
}


@dataclass
class TrainOptions:
    data: Path
    out: Path
    base: Path | None = None
    epochs: int = 30
    imgsz: int = 320
    batch: int = 16
    seed: int = 0
    workers: int = 0
    threads: int = 2
    lr: float | None = None
    weight_decay: float = 0.01
    freeze_backbone: bool = False
    model: str = "n"
    augment: bool = True
    low_light: float = 0.0  # AugmentConfig.low_light: dimmed bright frames in fine-tunes
    val_interval: int = 1
    cache_mb: int = 4096
    dataset_hash: str = ""
    parent_version: str = ""
    version: str = ""
    # auto | cpu | cuda | cuda:N; None: $VISIONLOOP_TRAINER_DEVICE, else auto (device.py).
    device: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- weights


def load_weights(path: Path) -> dict[str, Any]:
    """A ``weights.pt`` written by this trainer, or a TrainerError naming the file."""
    if not path.is_file():
        raise TrainerError(f"{path}: base weights not found")
    try:
        # weights_only: a weights file from elsewhere must not be able to run code (pickle).
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrainerError(f"{path}: not a readable weights file ({first[:200]})") from None
    except Exception as e:  # the unpickler raises assorted errors on foreign content
        raise TrainerError(f"{path}: not a readable weights file ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != WEIGHTS_FORMAT:
        raise TrainerError(
            f"{path}: not a VisionLoop weights file (format is not {WEIGHTS_FORMAT!r})"
        )
    for key in ("config", "names", "state_dict"):
        if key not in ckpt:
            raise TrainerError(f"{path}: weights file has no {key!r}")
    try:
        ModelConfig.from_dict(ckpt["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise TrainerError(f"{path}: unsupported architecture config ({e})") from None
    return ckpt


def weights_payload(
    model: Detector, names: list[str], imgsz: int, meta: dict[str, Any]
) -> dict[str, Any]:
    return {
        "format": WEIGHTS_FORMAT,
        "format_version": WEIGHTS_FORMAT_VERSION,
        "config": model.cfg.to_dict(),
        "names": list(names),
        "imgsz": imgsz,
        # CPU tensors: a weights file written on a GPU box warm-starts a CPU-only worker.
        "state_dict": {
            k: v.detach().cpu().clone().float() for k, v in model.state_dict().items()
        },
        "meta": meta,
    }


def warm_start(
    model: Detector, ckpt: dict[str, Any], names: list[str], base: Path
) -> dict[str, Any]:
    """Load every tensor whose name and shape match; report what was re-initialized."""
    state = ckpt["state_dict"]
    own = model.state_dict()
    loaded, skipped = 0, []
    for k, v in own.items():
        src = state.get(k)
        if isinstance(src, torch.Tensor) and src.shape == v.shape:
            own[k] = src.to(v.dtype)
            loaded += 1
        else:
            skipped.append(k)
    model.load_state_dict(own)
    if ckpt["names"] != names:
        log(f"base classes {ckpt['names']} differ from the dataset's {names}")
    if skipped:
        log(f"warm start from {base}: {loaded} tensors loaded, {len(skipped)} re-initialized")
    else:
        log(f"warm start from {base}: all {loaded} tensors loaded")
    return {"loaded": loaded, "reinitialized": len(skipped)}


# ----------------------------------------------------------------------------- EMA


class ModelEMA:
    """Exponential moving average of weights and BN statistics.

    decay(u) = min(0.9999, (1 + u) / (10 + u)): the average spans roughly the last tenth of
    the updates so far, so it helps a 300-step fine-tune as much as a 10 000-step run
    (a fixed decay would either do nothing on short runs or lag badly on them).
    """

    def __init__(self, model: nn.Module) -> None:
        self.ema = copy.deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(0.9999, (1 + self.updates) / (10 + self.updates))
        msd = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
            else:
                v.copy_(msd[k])


# ----------------------------------------------------------------------------- helpers


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)  # a no-op without CUDA


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on convolution weights only, never on BN parameters or biases."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim > 1 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def lr_at(it: int, total: int, warmup: int, lr0: float, final_frac: float = 0.05) -> float:
    """Linear warmup from 10% then cosine decay to ``final_frac`` of the peak."""
    if it < warmup:
        return lr0 * (0.1 + 0.9 * it / max(1, warmup))
    t = (it - warmup) / max(1, total - warmup)
    return lr0 * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def prefetch(it: Iterator[Batch], depth: int) -> Iterator[Batch]:
    """Build batches in one background thread, ``depth`` ahead. A single producer keeps the
    random stream in order, so results do not depend on ``--workers``."""
    if depth <= 0:
        yield from it
        return
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for b in it:
                if stop.is_set():
                    return
                q.put(b)
            q.put(done)
        except BaseException as e:  # surfaced in the consumer
            q.put(e)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while not q.empty():
            q.get_nowait()


@torch.no_grad()
def validate(
    model: Detector,
    store: ImageStore,
    names: list[str],
    batch_size: int,
    check: Callable[[], None],
) -> dict[str, Any]:
    was_mode = model.export_mode
    model.eval()
    model.export_mode = True
    device = model_device(model)
    results: list[ImageResult] = []
    try:
        order = list(range(len(store)))
        for b in iterate_batches(store, batch_size, order, None, None):
            check()
            out = model(b.images.to(device, non_blocking=True)).cpu().numpy()
            for k in range(out.shape[0]):
                t = b.targets[k].numpy()
                valid = t[:, 0] >= 0
                results.append(ImageResult(nms(out[k]), t[valid, 1:], t[valid, 0].astype(np.int64)))
    finally:
        model.export_mode = was_mode
    return evaluate(results, names)


def atomic_write(path: Path, data: bytes, temps: list[Path]) -> Path:
    """Write ``data`` to a hidden temp file beside ``path``; the caller renames it later."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temps.append(tmp)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return tmp


# ----------------------------------------------------------------------------- the run


def _check_options(opts: TrainOptions) -> None:
    if opts.imgsz < 32 or opts.imgsz % 32:
        raise TrainerError(f"--imgsz must be a positive multiple of 32, got {opts.imgsz}", 2)
    for name in ("epochs", "batch", "threads"):
        if getattr(opts, name) < 1:
            raise TrainerError(f"--{name} must be at least 1, got {getattr(opts, name)}", 2)
    if opts.model not in MODEL_PRESETS:
        raise TrainerError(f"--model must be one of {sorted(MODEL_PRESETS)}, got {opts.model!r}", 2)
    if not 0 <= opts.low_light <= 1:
        raise TrainerError(f"--low-light must be within 0..1, got {opts.low_light}", 2)


@dataclass
class _Data:
    names: list[str]
    train: ImageStore
    val: ImageStore | None


def _load_data(opts: TrainOptions, check: Callable[[], None]) -> _Data:
    """The data set's train and val images, decoded into (cached) stores."""
    spec: DatasetSpec = load_dataset_spec(opts.data)
    train_samples = collect_samples(spec, spec.train, "train")
    if not train_samples:
        where = ", ".join(spec.rel(p) for p in spec.train)
        raise TrainerError(f"{where}: no training images (empty dataset)")
    val_samples = collect_samples(spec, spec.val, "val") if spec.val else []
    if not val_samples:
        log("no validation images: metrics.json will have val = null")

    cache = opts.cache_mb * 2**20
    log(f"loading {len(train_samples)} train + {len(val_samples)} val images at {opts.imgsz}")
    train_store = ImageStore(spec, train_samples, opts.imgsz, cache, check)
    val_store = (
        ImageStore(
            spec,
            val_samples,
            opts.imgsz,
            max(0, cache - len(train_samples) * opts.imgsz**2 * 3),
            check,
        )
        if val_samples
        else None
    )
    return _Data(spec.names, train_store, val_store)


@dataclass
class _Model:
    model: Detector
    cfg: ModelConfig
    warm_info: dict[str, Any] | None
    params: int
    gflops: float


def _build_model(
    opts: TrainOptions, ckpt: dict[str, Any] | None, names: list[str]
) -> _Model:
    """The detector: warm-started from ``ckpt`` (its architecture) or a fresh preset."""
    if ckpt is not None:
        cfg = ModelConfig.from_dict(ckpt["config"])
        cfg.nc = len(names)
    else:
        cfg = ModelConfig(nc=len(names), **MODEL_PRESETS[opts.model])
    model = Detector(cfg)
    warm_info = (
        warm_start(model, ckpt, names, opts.base) if ckpt is not None and opts.base else None
    )
    if opts.freeze_backbone:
        for p in model.backbone.parameters():
            p.requires_grad_(False)
    params = count_params(model)
    gflops = count_gflops(model, opts.imgsz)
    log(f"{ARCH_NAME}: {params / 1e6:.2f} M parameters, {gflops:.2f} GFLOPs at {opts.imgsz}")
    return _Model(model, cfg, warm_info, params, gflops)


@dataclass
class _Loop:
    """The optimisation state carried from epoch to epoch."""

    model: Detector
    optimizer: torch.optim.Optimizer
    criterion: DetectionLoss
    ema: ModelEMA
    aug: AugmentConfig | None
    gen: torch.Generator
    device: torch.device
    lr0: float
    warmup: int
    total_iters: int
    it: int = 0
    images_seen: int = 0
    train_seconds: float = 0.0
    last: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    val_metrics: dict[str, Any] | None = None
    # {"device": "cpu" | "cuda:N", "device_name": GPU name or None} (device.describe_device).
    device_info: dict[str, Any] = field(default_factory=dict)


def _train_epoch(
    opts: TrainOptions, loop: _Loop, store: ImageStore, epoch: int, check: Callable[[], None]
) -> float:
    """One pass over the training images; returns its seconds (mean losses in ``loop.last``)."""
    model = loop.model
    model.train()
    if opts.freeze_backbone:
        model.backbone.eval()  # frozen BN statistics too
    order = torch.randperm(len(store), generator=loop.gen).tolist()
    rng = np.random.default_rng([opts.seed, epoch])
    sums = {"loss": 0.0, "box": 0.0, "cls": 0.0, "dfl": 0.0}
    n_batches = 0
    t_epoch = time.monotonic()
    for batch in prefetch(iterate_batches(store, opts.batch, order, loop.aug, rng), opts.workers):
        check()
        lr = lr_at(loop.it, loop.total_iters, loop.warmup, loop.lr0)
        for g in loop.optimizer.param_groups:
            g["lr"] = lr
        images = batch.images.to(loop.device, non_blocking=True)
        targets = batch.targets.to(loop.device, non_blocking=True)
        raw = model(images)
        parts = loop.criterion(raw, targets)
        if not torch.isfinite(parts.total):
            raise TrainerError(
                f"loss became {float(parts.total)} at epoch {epoch}; try a lower --lr", 1
            )
        loop.optimizer.zero_grad(set_to_none=True)
        parts.total.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
        loop.optimizer.step()
        loop.ema.update(model)
        loop.it += 1
        n_batches += 1
        loop.images_seen += images.shape[0]
        sums["loss"] += float(parts.total.detach())
        sums["box"] += parts.box
        sums["cls"] += parts.cls
        sums["dfl"] += parts.dfl
    check()
    epoch_s = time.monotonic() - t_epoch
    loop.train_seconds += epoch_s
    loop.last = {k: v / max(1, n_batches) for k, v in sums.items()}
    return epoch_s


def _finish_epoch(
    opts: TrainOptions,
    loop: _Loop,
    data: _Data,
    epoch: int,
    epoch_s: float,
    t_start: float,
    events: EventStream,
    check: Callable[[], None],
) -> None:
    """The epoch's record (validated when due), as an event, a log line and history."""
    last = loop.last
    record: dict[str, Any] = {
        "epoch": epoch,
        "epochs": opts.epochs,
        "loss": round(last["loss"], 5),
        "box_loss": round(last["box"], 5),
        "cls_loss": round(last["cls"], 5),
        "dfl_loss": round(last["dfl"], 5),
        "lr": lr_at(max(0, loop.it - 1), loop.total_iters, loop.warmup, loop.lr0),
        "images_per_s": round(len(data.train) / max(epoch_s, 1e-9), 2),
    }
    do_val = data.val is not None and (
        epoch == opts.epochs or (opts.val_interval > 0 and epoch % opts.val_interval == 0)
    )
    if do_val and data.val is not None:
        loop.val_metrics = validate(loop.ema.ema, data.val, data.names, opts.batch, check)
        record["val_map50"] = round(loop.val_metrics["map50"], 5)
        record["val_map50_95"] = round(loop.val_metrics["map50_95"], 5)
    record["elapsed_s"] = round(time.monotonic() - t_start, 3)
    loop.history.append(record)
    events.emit("epoch", **record)
    log(
        f"epoch {epoch}/{opts.epochs} loss {last['loss']:.4f} "
        f"(box {last['box']:.4f} cls {last['cls']:.4f} dfl {last['dfl']:.4f}) "
        f"{record['images_per_s']:.1f} img/s"
        + (f" val mAP50 {record['val_map50']:.4f}" if "val_map50" in record else "")
    )


def _metrics_json(
    opts: TrainOptions, loop: _Loop, data: _Data, built: _Model, elapsed: float
) -> dict[str, Any]:
    """What ``metrics.json`` holds."""
    last = loop.last
    return {
        "train": {
            "epochs": opts.epochs,
            "images": len(data.train),
            "instances": data.train.instances,
            "loss": last.get("loss"),
            "box_loss": last.get("box"),
            "cls_loss": last.get("cls"),
            "dfl_loss": last.get("dfl"),
            "images_per_s": loop.images_seen / max(loop.train_seconds, 1e-9),
            "seconds": loop.train_seconds,
        },
        "val": loop.val_metrics,
        "model": {
            "arch": ARCH_NAME,
            "config": built.cfg.to_dict(),
            "params": built.params,
            "gflops": built.gflops,
            "imgsz": opts.imgsz,
            "names": data.names,
        },
        "run": {
            "seed": opts.seed,
            "lr": loop.lr0,
            "batch": opts.batch,
            "base": str(opts.base) if opts.base else None,
            "warm_start": built.warm_info,
            "freeze_backbone": opts.freeze_backbone,
            "augment": opts.augment,
            "low_light": opts.low_light,
            "dataset_hash": opts.dataset_hash,
            "parent_version": opts.parent_version,
            "version": opts.version,
            "elapsed_s": elapsed,
            **loop.device_info,
        },
        "history": loop.history,
    }


def _write_outputs(out: Path, finals: dict[str, bytes], check: Callable[[], None]) -> None:
    """All output files staged as temp files, then renamed in one go."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TrainerError(f"{out}: cannot create output directory ({e.strerror})") from None
    temps: list[Path] = []
    try:
        staged = [
            (atomic_write(out / name, data, temps), out / name) for name, data in finals.items()
        ]
        check()
        for tmp, dest in staged:
            os.replace(tmp, dest)
    finally:
        for tmp in temps:
            if tmp.exists():
                tmp.unlink()


def run_training(
    opts: TrainOptions, events: EventStream, check: Callable[[], None]
) -> dict[str, Any]:
    t_start = time.monotonic()
    _check_options(opts)
    # Before the data: a GPU that is not there should fail in a second, not after decoding.
    device = resolve_device(opts.device)
    device_info = describe_device(device)
    torch.set_num_threads(opts.threads)
    prepare_device(device, opts.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    seed_everything(opts.seed)

    # Base weights first: a corrupt --base should fail before minutes of image decoding.
    ckpt = load_weights(opts.base) if opts.base is not None else None
    data = _load_data(opts, check)
    names = data.names
    built = _build_model(opts, ckpt, names)
    # Warm start and counting happened on the CPU; the optimizer and EMA are made after the
    # move, so their state lives on the training device too.
    model = built.model.to(device)
    log(
        f"training on {device_info['device']}"
        + (f" ({device_info['device_name']})" if device_info["device_name"] else "")
    )

    nb = math.ceil(len(data.train) / opts.batch)
    total_iters = nb * opts.epochs
    lr0 = opts.lr if opts.lr is not None else (5e-4 if ckpt is not None else 2e-3)
    warmup = int(min(max(nb * (0.5 if ckpt is not None else 1.0), 20), total_iters / 5))
    optimizer = torch.optim.AdamW(
        param_groups(model, opts.weight_decay), lr=lr0, betas=(0.9, 0.999)
    )
    criterion = DetectionLoss(built.cfg)
    ema = ModelEMA(model)
    aug = AugmentConfig(low_light=opts.low_light) if opts.augment else None

    events.emit(
        "start",
        epochs=opts.epochs,
        imgsz=opts.imgsz,
        batch=opts.batch,
        seed=opts.seed,
        names=names,
        train_images=len(data.train),
        train_instances=data.train.instances,
        val_images=len(data.val) if data.val else 0,
        base=str(opts.base) if opts.base else None,
        arch=ARCH_NAME,
        params=built.params,
        gflops=round(built.gflops, 3),
        lr=lr0,
        threads=opts.threads,
        **device_info,
    )

    loop = _Loop(
        model=model,
        optimizer=optimizer,
        criterion=criterion,
        ema=ema,
        aug=aug,
        gen=torch.Generator().manual_seed(opts.seed),
        device=device,
        lr0=lr0,
        warmup=warmup,
        total_iters=total_iters,
        device_info=device_info,
    )
    for epoch in range(1, opts.epochs + 1):
        epoch_s = _train_epoch(opts, loop, data.train, epoch, check)
        _finish_epoch(opts, loop, data, epoch, epoch_s, t_start, events, check)

    # Outputs: everything is prepared in memory / temp files, then renamed in one go.
    final = ema.ema
    meta = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "trainer_version": __version__,
        "epochs": opts.epochs,
        "imgsz": opts.imgsz,
        "seed": opts.seed,
        "dataset_hash": opts.dataset_hash,
        "parent_version": opts.parent_version,
        "version": opts.version,
        "base": str(opts.base) if opts.base else None,
    }
    buf = io.BytesIO()
    torch.save(weights_payload(final, names, opts.imgsz, meta), buf)
    check()
    onnx_bytes = export_onnx(
        final,
        opts.imgsz,
        metadata_for(names, opts.imgsz, opts.dataset_hash, opts.parent_version, opts.version),
    )
    check()
    metrics = _metrics_json(opts, loop, data, built, time.monotonic() - t_start)
    out = opts.out
    _write_outputs(
        out,
        {
            "model.onnx": onnx_bytes,
            "weights.pt": buf.getvalue(),
            "metrics.json": (
                json.dumps(metrics, indent=2, allow_nan=False, default=float) + "\n"
            ).encode(),
        },
        check,
    )
    val_metrics = loop.val_metrics
    last = loop.last
    return {
        "model": str((out / "model.onnx").resolve()),
        "weights": str((out / "weights.pt").resolve()),
        "metrics": {
            "map50": val_metrics["map50"] if val_metrics else None,
            "map50_95": val_metrics["map50_95"] if val_metrics else None,
            "precision": val_metrics["precision"] if val_metrics else None,
            "recall": val_metrics["recall"] if val_metrics else None,
            "train_loss": last.get("loss"),
            "images_per_s": round(loop.images_seen / max(loop.train_seconds, 1e-9), 2),
        },
        "elapsed_s": round(time.monotonic() - t_start, 3),
        **device_info,
    }
