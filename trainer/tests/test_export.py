"""Export layout: the ONNX graph the runtime serves (names, shapes, metadata as Ultralytics
writes it) and the decoded boxes it computes, checked against an independent decoding."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from visionloop_trainer.export import export_onnx, inference_model, metadata_for
from visionloop_trainer.model import Detector, ModelConfig

NAMES = ["scratch", "crack", "dent", "stain"]
REPO = Path(__file__).resolve().parents[2]


def trained_looking_model(seed: int = 0) -> Detector:
    """Random weights and non-trivial BN statistics, so fusing and decoding are exercised."""
    torch.manual_seed(seed)
    m = Detector(ModelConfig(nc=4))
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.1, 0.1)
    return m.eval()


@pytest.fixture(scope="module")
def exported() -> tuple[Detector, bytes]:
    m = trained_looking_model()
    meta = metadata_for(NAMES, 320, "sha256:abc", "v3", "v4")
    return m, export_onnx(m, 320, meta)


def test_graph_io_names_and_shapes(exported: tuple[Detector, bytes]) -> None:
    _, data = exported
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto)

    def dims(v: onnx.ValueInfoProto) -> list[int]:
        return [d.dim_value for d in v.type.tensor_type.shape.dim]

    (inp,) = [
        i for i in proto.graph.input if i.name not in {x.name for x in proto.graph.initializer}
    ]
    (out,) = proto.graph.output
    assert inp.name == "images" and dims(inp) == [1, 3, 320, 320]
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    # 4 box rows + 4 classes; 40² + 20² + 10² = 2100 points.
    assert out.name == "output0" and dims(out) == [1, 8, 2100]
    assert 12 <= proto.opset_import[0].version <= 17


def test_metadata_props_parse_like_ultralytics(exported: tuple[Detector, bytes]) -> None:
    _, data = exported
    meta = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    assert meta["names"] == "{0: 'scratch', 1: 'crack', 2: 'dent', 3: 'stain'}"
    assert ast.literal_eval(meta["names"]) == dict(enumerate(NAMES))
    assert ast.literal_eval(meta["imgsz"]) == [320, 320]
    assert meta["stride"] == "32" and meta["task"] == "detect" and meta["batch"] == "1"
    assert meta["visionloop_dataset_hash"] == "sha256:abc"
    assert meta["visionloop_parent_version"] == "v3"
    assert meta["visionloop_version"] == "v4"
    assert meta["date"] and meta["description"]


def reference_decode(
    raw: list[np.ndarray], reg_max: int, nc: int, strides=(8, 16, 32)
) -> np.ndarray:
    """An independent numpy decoding of raw head maps into [4 + nc, N] (cx, cy, w, h, scores)."""
    cols = []
    for r, s in zip(raw, strides):
        _, _, h, w = r.shape
        for y in range(h):
            for x in range(w):
                v = r[0, :, y, x]
                d = v[: 4 * reg_max].reshape(4, reg_max)
                e = np.exp(d - d.max(1, keepdims=True))
                p = e / e.sum(1, keepdims=True)
                l, t, rr, b = (p * np.arange(reg_max)).sum(1)
                ax, ay = (x + 0.5) * s, (y + 0.5) * s
                x1, y1, x2, y2 = ax - l * s, ay - t * s, ax + rr * s, ay + b * s
                scores = 1 / (1 + np.exp(-v[4 * reg_max :]))
                cols.append([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, *scores])
    return np.asarray(cols, np.float64).T


def test_decoded_output_matches_an_independent_decoding() -> None:
    m = trained_looking_model(1)
    x = torch.rand(1, 3, 128, 96)
    with torch.no_grad():
        raw = [t.numpy() for t in m.forward_raw(x)]
        m.export_mode = True
        out = m(x)[0].numpy()
    assert out.shape == (8, 16 * 12 + 8 * 6 + 4 * 3)
    assert np.allclose(out, reference_decode(raw, m.cfg.reg_max, 4), atol=1e-4)


def test_fused_inference_model_equals_the_trained_model() -> None:
    m = trained_looking_model(2)
    x = torch.rand(2, 3, 320, 320)
    with torch.no_grad():
        m.export_mode = True
        ref = m(x)
        fused = inference_model(m)(x)
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in inference_model(m).modules())
    assert torch.allclose(ref, fused, atol=1e-3, rtol=1e-4)


ORT = REPO / "node_modules" / "onnxruntime-node"


@pytest.mark.skipif(
    shutil.which("node") is None or not ORT.is_dir(), reason="needs node + onnxruntime-node"
)
def test_onnx_runtime_output_matches_torch(
    exported: tuple[Detector, bytes], tmp_path: Path
) -> None:
    m, data = exported
    model_path = tmp_path / "model.onnx"
    model_path.write_bytes(data)
    x = torch.rand(1, 3, 320, 320, generator=torch.Generator().manual_seed(5))
    (tmp_path / "in.bin").write_bytes(x.numpy().astype("<f4").tobytes())
    script = f"""
const ort = require({json.dumps(str(ORT))});
const fs = require('fs');
(async () => {{
  const s = await ort.InferenceSession.create({json.dumps(str(model_path))},
    {{intraOpNumThreads: 1}});
  const b = fs.readFileSync({json.dumps(str(tmp_path / 'in.bin'))});
  const pixels = new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  const x = new ort.Tensor('float32', pixels, [1, 3, 320, 320]);
  const r = await s.run({{images: x}});
  fs.writeFileSync({json.dumps(str(tmp_path / 'out.bin'))}, Buffer.from(r.output0.data.buffer));
  console.log(JSON.stringify(r.output0.dims));
}})().catch(e => {{ console.error(e); process.exit(1); }});
"""
    proc = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [1, 8, 2100]
    got = np.frombuffer((tmp_path / "out.bin").read_bytes(), "<f4").reshape(8, 2100)
    with torch.no_grad():
        m.export_mode = True
        want = m(x)[0].numpy()
        m.export_mode = False
    assert np.allclose(got, want, atol=2e-3, rtol=1e-3)
