"""Which device a training runs on: ``--device auto|cpu|cuda|cuda:N`` (default: the
``VISIONLOOP_TRAINER_DEVICE`` environment variable, else ``auto`` = the current CUDA device when
PyTorch sees one, else the CPU), and the per-device set-up that goes with it.

Resolving never silently falls back: an explicit ``cuda`` on a machine where PyTorch sees no
GPU, or a GPU index that does not exist, is a usage error (exit 2) that names the problem.
"""

from __future__ import annotations

import os
import re
from typing import Any

import torch

from .events import TrainerError

DEVICE_ENV = "VISIONLOOP_TRAINER_DEVICE"
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
_CUDA = re.compile(r"cuda(?::(\d{1,3}))?")


def device_spec(flag: str | None) -> tuple[str, str]:
    """The requested device and where the request came from (``--device``, the environment
    variable, or the default)."""
    if flag is not None:
        return flag.strip().lower(), "--device"
    env = os.environ.get(DEVICE_ENV, "").strip()
    if env:
        return env.lower(), DEVICE_ENV
    return "auto", "--device"


def resolve_device(flag: str | None) -> torch.device:
    """The torch device of a ``--device`` value (None: the environment variable or ``auto``).

    Raises TrainerError (exit code 2) for a malformed value, ``cuda`` without a GPU PyTorch
    can use, or a GPU index beyond the visible devices.
    """
    spec, source = device_spec(flag)
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    match = _CUDA.fullmatch(spec)
    if match is None:
        raise TrainerError(f"{source} must be one of {DEVICE_CHOICES}, got {spec!r}", 2)
    if not torch.cuda.is_available():
        built = torch.version.cuda
        why = (
            f"this PyTorch {torch.__version__} was built without CUDA"
            if built is None
            else f"PyTorch {torch.__version__} (CUDA {built}) sees no usable GPU"
        )
        raise TrainerError(
            f"{source} {spec}: CUDA is not available ({why}); use --device cpu or auto", 2
        )
    index = int(match.group(1)) if match.group(1) is not None else torch.cuda.current_device()
    count = torch.cuda.device_count()
    if index >= count:
        raise TrainerError(
            f"{source} {spec}: only {count} CUDA device{'s' if count != 1 else ''} visible "
            f"(cuda:0..cuda:{count - 1}; CUDA_VISIBLE_DEVICES selects which)",
            2,
        )
    return torch.device("cuda", index)


def describe_device(device: torch.device) -> dict[str, Any]:
    """``{"device": "cuda:0", "device_name": "NVIDIA …"}`` (``device_name`` None on the CPU),
    as the ``start`` event, ``metrics.json`` and the ``done`` event report it."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return {
            "device": f"cuda:{index}",
            "device_name": torch.cuda.get_device_name(index),
        }
    return {"device": str(device), "device_name": None}


def prepare_device(device: torch.device, seed: int) -> None:
    """Per-device set-up before any tensor is created on it: on CUDA, the current device, the
    CUDA generators' seed, cuDNN's autotuner (fixed input sizes: it picks the fastest
    convolution once per shape) and the cuBLAS workspace that deterministic mode needs. On the
    CPU nothing changes (cuDNN's autotuner is never switched on there)."""
    if device.type != "cuda":
        return
    # Read by cuBLAS when its first handle is created; without it, deterministic mode warns on
    # every matmul (https://docs.nvidia.com/cuda/cublas/#results-reproducibility).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.cuda.set_device(device)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.benchmark = True


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's parameters (the CPU for a model without any)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")
