"""ONNX export in the YOLOv8 layout with Ultralytics-style metadata, so the runtime serves a
VisionLoop-trained model and an Ultralytics export through the same code.

Input ``images`` float32 [1, 3, S, S] (RGB 0..1, letterboxed with gray 114); output ``output0``
[1, 4 + nc, N]. ``metadata_props`` values are Python literals as Ultralytics writes them
(``str()`` of dicts and lists). Writes only the path it is given.
"""

from __future__ import annotations

import copy
import datetime as _dt
import io
import warnings

import onnx
import torch
from torch import nn

from . import __version__
from .model import Conv, Detector

OPSET = 13


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm of a Conv block into its convolution (inference only)."""
    for m in model.modules():
        if isinstance(m, Conv) and isinstance(m.bn, nn.BatchNorm2d):
            conv, bn = m.conv, m.bn
            fused = nn.Conv2d(
                conv.in_channels,
                conv.out_channels,
                conv.kernel_size,
                conv.stride,
                conv.padding,
                groups=conv.groups,
                bias=True,
            )
            std = torch.sqrt(bn.running_var + bn.eps)
            scale = bn.weight / std
            with torch.no_grad():
                fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
                fused.bias.copy_(bn.bias - bn.running_mean * scale)
            m.conv = fused
            m.bn = nn.Identity()  # type: ignore[assignment]
    return model


def inference_model(model: Detector) -> Detector:
    """A fused, eval-mode CPU copy that returns the exported layout (the model trained on any
    device; the export traces on the CPU, so the graph never names a GPU)."""
    m = copy.deepcopy(model).cpu().float().eval()
    fuse_conv_bn(m)
    m.export_mode = True
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def metadata_for(
    names: list[str],
    imgsz: int,
    dataset_hash: str,
    parent_version: str,
    version: str,
    stride: int = 32,
) -> dict[str, str]:
    """``metadata_props`` as Ultralytics writes them (``str()`` of Python values), plus ours."""
    return {
        "description": "VisionLoop detector (YOLOv8 layout, anchor-free, DFL)",
        "author": "VisionLoop",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "version": __version__,
        "license": "Apache-2.0",
        "stride": str(stride),
        "task": "detect",
        "batch": "1",
        "imgsz": str([imgsz, imgsz]),
        "names": str({i: n for i, n in enumerate(names)}),
        "channels": "3",
        "visionloop_dataset_hash": dataset_hash,
        "visionloop_parent_version": parent_version,
        "visionloop_version": version,
    }


def export_onnx(model: Detector, imgsz: int, metadata: dict[str, str]) -> bytes:
    """Serialized, checked ONNX model bytes (``model`` may live on any device; it is left
    where it is)."""
    m = inference_model(model)
    dummy = torch.zeros(1, 3, imgsz, imgsz)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            m,
            dummy,
            buf,
            input_names=["images"],
            output_names=["output0"],
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
