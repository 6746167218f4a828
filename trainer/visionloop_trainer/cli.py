"""Command line: ``train`` (the process contract of DESIGN.md §4), ``export`` (weights.pt →
model.onnx), and the chain's stage models ``train-classify`` / ``train-segment`` (same contract,
on a crop data set; README.md). Maps every outcome to an event and an exit code:

  0    done
  1    failed: bad data, unreadable --base, training diverged, internal error
  2    bad command-line arguments
  130  cancelled by SIGINT, 143 cancelled by SIGTERM (128 + signal number, as a shell reports)

stdout carries only JSON-lines events; ``run_process`` moves file descriptor 1 to stderr for
everything else (library prints, native warnings) so no stray line can corrupt the stream.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, Sequence, TextIO

from .events import CancelledError, EventStream, TrainerError, log

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


DEVICE_HELP = (
    "auto (default: CUDA when PyTorch sees a GPU, else the CPU), cpu, cuda or cuda:N; "
    "unset: $VISIONLOOP_TRAINER_DEVICE, else auto"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # type: ignore[override]
        raise TrainerError(f"{self.prog}: {message}", EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="visionloop_trainer", description="VisionLoop detector trainer")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train (from scratch or warm start) and export")
    t.add_argument(
        "--data", required=True, type=Path, help="dataset dir (with data.yaml) or the YAML"
    )
    t.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output dir for model.onnx, weights.pt, metrics.json",
    )
    t.add_argument("--base", type=Path, default=None, help="weights.pt to warm-start from")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--imgsz", type=int, default=320, help="square input size, multiple of 32")
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--workers", type=int, default=0, help="batches prepared ahead in a background thread"
    )
    t.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    t.add_argument(
        "--lr", type=float, default=None, help="peak AdamW LR (default 2e-3, 5e-4 with --base)"
    )
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--freeze-backbone", action="store_true", help="train only neck and heads")
    t.add_argument(
        "--model", default="n", help="architecture preset for training from scratch: n or s"
    )
    t.add_argument("--no-augment", dest="augment", action="store_false")
    t.add_argument(
        "--low-light",
        type=float,
        default=0.0,
        help="probability of dimming a bright frame (with noise) during training, 0..1",
    )
    t.add_argument(
        "--val-interval", type=int, default=1, help="validate every N epochs (0: only at the end)"
    )
    t.add_argument(
        "--cache-mb", type=int, default=4096, help="RAM for decoded frames (else read per epoch)"
    )
    t.add_argument(
        "--dataset-hash", default="", help="written to metadata_props visionloop_dataset_hash"
    )
    t.add_argument(
        "--parent-version", default="", help="written to metadata_props visionloop_parent_version"
    )
    t.add_argument("--version", default="", help="written to metadata_props visionloop_version")
    t.add_argument("--device", default=None, help=DEVICE_HELP)

    e = sub.add_parser("export", help="export a weights.pt to ONNX")
    e.add_argument("--weights", required=True, type=Path)
    e.add_argument("--out", required=True, type=Path, help="the .onnx file to write")
    e.add_argument("--imgsz", type=int, default=None, help="default: the size it was trained at")
    e.add_argument("--dataset-hash", default=None)
    e.add_argument("--parent-version", default=None)
    e.add_argument("--version", default=None)

    stages = (("train-classify", "classifier", 8), ("train-segment", "segmenter", 6))
    for name, task, epochs in stages:
        c = sub.add_parser(name, help=f"train the crop {task} on a crop data set and export it")
        c.add_argument(
            "--data", required=True, type=Path, help="crop data set (visionloop synth crops)"
        )
        c.add_argument(
            "--out",
            required=True,
            type=Path,
            help="output dir for model.onnx, weights.pt, metrics.json",
        )
        c.add_argument("--base", type=Path, default=None, help="weights.pt to warm-start from")
        c.add_argument("--epochs", type=int, default=epochs)
        c.add_argument("--batch", type=int, default=64)
        c.add_argument("--seed", type=int, default=0)
        c.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
        c.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate")
        c.add_argument("--no-augment", dest="augment", action="store_false")
        c.add_argument(
            "--version", default="", help="written to metadata_props visionloop_version"
        )
        c.add_argument("--device", default=None, help=DEVICE_HELP)

    v = sub.add_parser("evaluate", help="quick mAP of a weights.pt on a dataset split")
    v.add_argument("--weights", required=True, type=Path)
    v.add_argument("--data", required=True, type=Path)
    v.add_argument("--split", default="val", choices=["train", "val"])
    v.add_argument("--imgsz", type=int, default=None, help="default: the size it was trained at")
    v.add_argument("--batch", type=int, default=16)
    v.add_argument("--threads", type=int, default=2)
    v.add_argument("--device", default=None, help=DEVICE_HELP)
    return p


class Cancellation:
    """Records SIGTERM/SIGINT; the training loop calls ``check()`` at batch boundaries."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self.signal_number = 0

    def handler(self, signum: int, frame: FrameType | None) -> None:
        self.signal_number = signum
        self.signal_name = signal.Signals(signum).name

    def check(self) -> None:
        if self.signal_name is not None:
            raise CancelledError(self.signal_name)

    def install(self) -> list[tuple[int, Any]]:
        """Installs the handlers; returns the previous ones for ``restore``."""
        previous = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous.append((sig, signal.getsignal(sig)))
            signal.signal(sig, self.handler)
        return previous

    @staticmethod
    def restore(previous: list[tuple[int, Any]]) -> None:
        for sig, h in previous:
            signal.signal(sig, h)


def _train(args: argparse.Namespace, events: EventStream, cancel: Cancellation) -> None:
    from .train import TrainOptions, run_training

    opts = TrainOptions(
        data=args.data,
        out=args.out,
        base=args.base,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        seed=args.seed,
        workers=max(0, args.workers),
        threads=args.threads,
        lr=args.lr,
        weight_decay=args.weight_decay,
        freeze_backbone=args.freeze_backbone,
        model=args.model,
        augment=args.augment,
        low_light=args.low_light,
        val_interval=args.val_interval,
        cache_mb=args.cache_mb,
        dataset_hash=args.dataset_hash,
        parent_version=args.parent_version,
        version=args.version,
        device=args.device,
    )
    result = run_training(opts, events, cancel.check)
    events.emit("done", **result)


def _train_stage(args: argparse.Namespace, events: EventStream, cancel: Cancellation) -> None:
    from .crops import StageOptions

    bounds = (
        ("--epochs", args.epochs, 1),
        ("--batch", args.batch, 1),
        ("--threads", args.threads, 1),
        ("--seed", args.seed, 0),
    )
    for flag, value, low in bounds:
        if value < low:
            raise TrainerError(f"{flag} must be at least {low}, got {value}", EXIT_USAGE)
    if not args.lr > 0:
        raise TrainerError(f"--lr must be positive, got {args.lr}", EXIT_USAGE)
    opts = StageOptions(
        data=args.data,
        out=args.out,
        base=args.base,
        epochs=args.epochs,
        batch=args.batch,
        seed=args.seed,
        threads=args.threads,
        lr=args.lr,
        augment=args.augment,
        version=args.version,
        device=args.device,
    )
    if args.command == "train-classify":
        from .classify import run_classify_training

        result = run_classify_training(opts, events, cancel.check)
    else:
        from .segment import run_segment_training

        result = run_segment_training(opts, events, cancel.check)
    events.emit("done", **result)


def _load_model(path: Path) -> tuple[Any, dict[str, Any]]:
    from .model import Detector, ModelConfig
    from .train import load_weights

    ckpt = load_weights(path)
    model = Detector(ModelConfig.from_dict(ckpt["config"]))
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise TrainerError(f"{path}: weights do not fit the architecture ({first})") from None
    return model, ckpt


def _evaluate(args: argparse.Namespace, events: EventStream, cancel: Cancellation) -> None:
    import torch

    from .dataset import ImageStore, collect_samples, load_dataset_spec
    from .device import describe_device, prepare_device, resolve_device
    from .train import validate

    t0 = time.monotonic()
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    prepare_device(device, 0)
    model, ckpt = _load_model(args.weights)
    model.to(device)
    imgsz = args.imgsz or int(ckpt.get("imgsz", 320))
    if imgsz < 32 or imgsz % 32:
        raise TrainerError(f"--imgsz must be a positive multiple of 32, got {imgsz}", EXIT_USAGE)
    spec = load_dataset_spec(args.data)
    if list(ckpt["names"]) != spec.names:
        raise TrainerError(
            f"{spec.yaml_path}: classes {spec.names} differ from the model's {ckpt['names']}"
        )
    entries = spec.train if args.split == "train" else spec.val
    samples = collect_samples(spec, entries, args.split)
    if not samples:
        raise TrainerError(f"{spec.yaml_path}: no {args.split} images")
    store = ImageStore(spec, samples, imgsz, 1 << 62, cancel.check)
    metrics = validate(model, store, spec.names, args.batch, cancel.check)
    events.emit(
        "done",
        metrics=metrics,
        elapsed_s=round(time.monotonic() - t0, 3),
        **describe_device(device),
    )


def _export(args: argparse.Namespace, events: EventStream, cancel: Cancellation) -> None:
    import torch

    from .export import export_onnx, metadata_for

    t0 = time.monotonic()
    model, ckpt = _load_model(args.weights)
    imgsz = args.imgsz or int(ckpt.get("imgsz", 320))
    if imgsz < 32 or imgsz % 32:
        raise TrainerError(f"--imgsz must be a positive multiple of 32, got {imgsz}", EXIT_USAGE)
    meta = ckpt.get("meta") or {}

    def pick(flag: str | None, key: str) -> str:
        return flag if flag is not None else str(meta.get(key) or "")

    torch.set_num_threads(2)
    data = export_onnx(
        model,
        imgsz,
        metadata_for(
            list(ckpt["names"]),
            imgsz,
            pick(args.dataset_hash, "dataset_hash"),
            pick(args.parent_version, "parent_version"),
            pick(args.version, "version"),
        ),
    )
    cancel.check()
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    events.emit("done", model=str(out.resolve()), elapsed_s=round(time.monotonic() - t0, 3))


def main(
    argv: Sequence[str] | None = None,
    events: EventStream | None = None,
    cancel: Cancellation | None = None,
) -> int:
    """Runs one command; returns the exit code. Never raises (except SystemExit from -h).

    ``cancel``: handlers already installed by the caller; otherwise they are installed here
    for the duration of the command and the previous ones restored.
    """
    events = events or EventStream()
    previous: list[tuple[int, Any]] = []
    if cancel is None:
        cancel = Cancellation()
        previous = cancel.install()
    try:
        args = build_parser().parse_args(argv)
        if args.command == "train":
            _train(args, events, cancel)
        elif args.command in ("train-classify", "train-segment"):
            _train_stage(args, events, cancel)
        elif args.command == "evaluate":
            _evaluate(args, events, cancel)
        else:
            _export(args, events, cancel)
        return EXIT_OK
    except CancelledError as c:
        log(f"{c}: stopped at a batch boundary, nothing written")
        events.emit("cancelled", signal=c.signal_name)
        return 128 + cancel.signal_number
    except TrainerError as e:
        log(f"error: {e.message}")
        events.emit("error", message=e.message)
        return e.exit_code
    except MemoryError:
        events.emit("error", message="out of memory: lower --batch, --imgsz or --cache-mb")
        return EXIT_FAILED
    except Exception as e:  # anything unexpected still ends with an error event
        traceback.print_exc(file=sys.stderr)
        events.emit("error", message=f"internal error: {type(e).__name__}: {e}")
        return EXIT_FAILED
    finally:
        Cancellation.restore(previous)


def run_process() -> int:
    """The process entry point: events on the real stdout, everything else on stderr."""
    # Before anything slow (importing torch takes seconds): a SIGTERM from then on is a clean
    # cancellation, not a kill.
    cancel = Cancellation()
    cancel.install()
    events_fd = os.dup(1)
    os.dup2(2, 1)
    stream: TextIO = os.fdopen(events_fd, "w", buffering=1, encoding="utf-8")
    sys.stdout = sys.stderr
    import torch

    # Inter-op parallelism buys nothing for this sequential network and oversubscribes 2 cores.
    # Settable once per process, before any parallel work (a second call aborts the process).
    torch.set_num_interop_threads(1)
    return main(None, EventStream(stream), cancel)
