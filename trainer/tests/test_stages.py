"""The stage trainers (``train-classify``, ``train-segment``): crop data set parsing and its
error messages, the metrics on hand-worked cases, learning on a small stand-in data set, the
ONNX export (dynamic batch, Ultralytics metadata, same numbers as PyTorch) and determinism."""

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

from conftest import run_cli
from visionloop_trainer.classify import CropClassifier, classification_metrics
from visionloop_trainer.crops import load_crops
from visionloop_trainer.events import TrainerError
from visionloop_trainer.segment import CropSegmenter, mask_metrics

NAMES = ["not_defect", "minor", "major", "critical"]
S = 32


def write_crops(root: Path, train: int, val: int, seed: int = 0, size: int = S) -> Path:
    """A stand-in crop data set in the ``visionloop synth crops`` layout: gray textured crops,
    class k > 0 has a dark disc of radius 3·k px (its mask), class 0 none."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size]
    for split, n in (("train", train), ("val", val)):
        images = np.empty((n, size, size, 3), np.uint8)
        masks = np.zeros((n, size, size), np.uint8)
        lines = []
        for i in range(n):
            cls = i % 4
            img = 150 + rng.normal(0, 6, (size, size, 1)).repeat(3, axis=2)
            if cls:
                cx, cy = rng.uniform(size * 0.35, size * 0.65, 2)
                disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= (3 * cls) ** 2
                img[disc] -= 70
                masks[i] = disc
            images[i] = img.clip(0, 255).astype(np.uint8)
            lines.append(json.dumps({"classId": cls, "kind": "disc" if cls else "background"}))
        images.tofile(root / f"{split}.images.u8")
        masks.tofile(root / f"{split}.masks.u8")
        (root / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    meta = {"format": "visionloop-crops-v1", "size": size, "names": NAMES}
    (root / "crops.json").write_text(json.dumps(meta))
    return root


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_crops(tmp_path_factory.mktemp("crops") / "c", 160, 80, seed=1)


def test_load_crops_reads_arrays_and_labels(crops: Path) -> None:
    data = load_crops(crops)
    assert data.size == S and data.names == NAMES
    assert data.train.images.shape == (160, S, S, 3)
    assert data.train.masks.shape == (160, S, S)
    assert data.train.labels[:5].tolist() == [0, 1, 2, 3, 0]
    assert data.val is not None and len(data.val.records) == 80
    # Class 2: a disc of radius 6 → about π·36 ≈ 113 px.
    assert 100 <= int(data.train.masks[2].sum()) <= 125


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda r: (r / "crops.json").unlink(), "no crops.json"),
        (lambda r: (r / "crops.json").write_text("{"), "crops.json: not JSON"),
        (
            lambda r: (r / "crops.json").write_text('{"format": "x", "size": 32, "names": []}'),
            "format must be",
        ),
        (lambda r: (r / "train.masks.u8").write_bytes(b"\x00" * 10), "train.masks.u8: 10 bytes"),
        (lambda r: (r / "val.images.u8").unlink(), "val.images.u8: missing"),
        (
            lambda r: (r / "train.jsonl").write_text('{"classId": 7}\n'),
            "train.jsonl line 1: classId 7 out of range 0..3",
        ),
        (lambda r: (r / "train.jsonl").write_text("oops\n"), "train.jsonl line 1: not JSON"),
    ],
)
def test_bad_crop_data_sets_name_the_problem(tmp_path: Path, damage, fragment: str) -> None:
    root = write_crops(tmp_path / "bad", 8, 4)
    damage(root)
    with pytest.raises(TrainerError) as info:
        load_crops(root)
    assert fragment in info.value.message


def test_classification_metrics_on_a_hand_worked_case() -> None:
    labels = np.array([0, 0, 1, 1, 2, 3])
    pred = np.array([0, 1, 1, 1, 3, 0])
    probs = np.eye(4)[pred]
    m = classification_metrics(probs, labels, NAMES)
    assert m["accuracy"] == pytest.approx(3 / 6, abs=1e-4)
    assert m["per_class"]["not_defect"] == {"support": 2, "accuracy": 0.5, "precision": 0.5}
    assert m["per_class"]["minor"]["accuracy"] == 1.0
    assert m["per_class"]["critical"]["accuracy"] == 0.0
    assert m["within_one_class"] == pytest.approx(5 / 6, abs=1e-4)  # 3 → 0 is off by 3
    # not_defect vs defect: wrong for the 0→1 and the 3→0 crops.
    assert m["veto_accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert m["confusion"][3] == [1, 0, 0, 0]


def test_mask_metrics_on_a_hand_worked_case() -> None:
    truth = np.zeros((3, 4, 4), np.uint8)
    truth[0, :2, :2] = 1  # 4 px
    truth[1, :, :2] = 1  # 8 px
    prob = np.zeros((3, 4, 4), np.float32)
    prob[0, :2, :3] = 0.9  # 6 px, 4 shared: IoU 4/6, area error 50 %
    prob[1, :, :2] = 0.6  # exact
    prob[2, 0, 0] = 0.7  # one false pixel on the empty crop
    m = mask_metrics(prob, truth)
    assert m["defect_crops"] == 2 and m["empty_crops"] == 1
    assert m["mean_iou"] == pytest.approx((4 / 6 + 1) / 2, abs=1e-4)
    assert m["area_error_pct_median"] == pytest.approx(25.0)
    assert m["area_error_pct_mean"] == pytest.approx(25.0)
    assert m["empty_false_px_share"] == pytest.approx(1 / 16, abs=1e-5)


REPO = Path(__file__).resolve().parents[2]
ORT = REPO / "node_modules" / "onnxruntime-node"
needs_ort = pytest.mark.skipif(
    shutil.which("node") is None or not ORT.is_dir(), reason="needs node + onnxruntime-node"
)


def ort_run(path: Path, x: np.ndarray, tmp: Path) -> np.ndarray:
    """Runs ``model.onnx`` on ``x`` with onnxruntime-node, as the VisionLoop runtime does."""
    (tmp / "in.bin").write_bytes(x.astype("<f4").tobytes())
    script = f"""
const ort = require({json.dumps(str(ORT))});
const fs = require('fs');
(async () => {{
  const s = await ort.InferenceSession.create({json.dumps(str(path))}, {{intraOpNumThreads: 1}});
  const b = fs.readFileSync({json.dumps(str(tmp / 'in.bin'))});
  const x = new ort.Tensor('float32', new Float32Array(b.buffer, b.byteOffset, b.length / 4),
    {json.dumps(list(x.shape))});
  const r = await s.run({{images: x}});
  fs.writeFileSync({json.dumps(str(tmp / 'out.bin'))}, Buffer.from(r.output0.data.buffer));
  console.log(JSON.stringify(r.output0.dims));
}})().catch(e => {{ console.error(e); process.exit(1); }});
"""
    proc = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    dims = json.loads(proc.stdout)
    return np.frombuffer((tmp / "out.bin").read_bytes(), "<f4").reshape(dims)


@pytest.fixture(scope="module")
def cls_run(crops: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("cls") / "out"
    code, events = run_cli(
        "train-classify", "--data", str(crops), "--out", str(out), "--epochs", "8",
        "--batch", "32", "--version", "cls-test",
    )  # fmt: skip
    assert code == 0, events
    return out, events


@pytest.fixture(scope="module")
def seg_run(crops: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("seg") / "out"
    code, events = run_cli(
        "train-segment", "--data", str(crops), "--out", str(out), "--epochs", "8",
        "--batch", "32", "--device", "cpu",
    )  # fmt: skip
    assert code == 0, events
    return out, events


def test_train_classify_learns_and_exports_the_cls_layout(cls_run: tuple[Path, list]) -> None:
    out, events = cls_run
    assert [e["event"] for e in events] == ["start"] + ["epoch"] * 8 + ["done"]
    assert events[0]["train_per_class"] == {n: 40 for n in NAMES}
    assert isinstance(events[4]["val_accuracy"], float)
    done = events[-1]
    # The default device is auto: the CPU on a machine where PyTorch sees no GPU.
    if not torch.cuda.is_available():
        assert (events[0]["device"], events[0]["device_name"]) == ("cpu", None)
        assert (done["device"], done["device_name"]) == ("cpu", None)
    # Disc size is an easy severity cue: the small CNN must get most of the val crops.
    assert done["metrics"]["accuracy"] >= 0.8, done
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val"]["crops"] == 80
    assert set(metrics["val"]["per_class"]) == set(NAMES)

    proto = onnx.load(str(out / "model.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["task"] == "classify"
    assert ast.literal_eval(meta["names"]) == dict(enumerate(NAMES))
    assert ast.literal_eval(meta["imgsz"]) == [S, S]
    assert meta["visionloop_version"] == "cls-test"
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, S, S]
    out_dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in out_dims] == ["batch", 4]
    assert (out / "model.onnx").stat().st_size < 1_000_000


@needs_ort
def test_classifier_onnx_matches_torch_for_a_batch(
    cls_run: tuple[Path, list], crops: Path, tmp_path: Path
) -> None:
    out, _ = cls_run
    ckpt = torch.load(out / "weights.pt", weights_only=True)
    model = CropClassifier(4, tuple(ckpt["config"]["widths"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    data = load_crops(crops)
    x = data.val.images[:5].transpose(0, 3, 1, 2).astype(np.float32) / 255
    got = ort_run(out / "model.onnx", x, tmp_path)
    assert got.shape == (5, 4)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert got.argmax(axis=1).tolist() == data.val.labels[:5].tolist()


def test_train_segment_learns_masks_and_exports_the_mask_layout(
    seg_run: tuple[Path, list]
) -> None:
    out, events = seg_run
    done = events[-1]
    assert done["event"] == "done"
    # Discs on a flat texture: the U-Net must find them well.
    assert done["metrics"]["mean_iou"] >= 0.6, done
    assert done["metrics"]["area_error_pct_median"] <= 30, done
    proto = onnx.load(str(out / "model.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["task"] == "segment"
    assert ast.literal_eval(meta["names"]) == {0: "defect"}
    out_dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in out_dims] == ["batch", 1, S, S]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val"]["per_kind"]["disc"]["defect_crops"] == 60
    # Trained with --device cpu: the start event, the done event and metrics.json say so.
    assert (events[0]["device"], events[0]["device_name"]) == ("cpu", None)
    assert (done["device"], done["device_name"]) == ("cpu", None)
    assert (metrics["run"]["device"], metrics["run"]["device_name"]) == ("cpu", None)


@needs_ort
def test_segmenter_onnx_matches_torch_for_a_batch(
    seg_run: tuple[Path, list], crops: Path, tmp_path: Path
) -> None:
    out, _ = seg_run
    ckpt = torch.load(out / "weights.pt", weights_only=True)
    model = CropSegmenter(tuple(ckpt["config"]["widths"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    data = load_crops(crops)
    x = data.val.images[:3].transpose(0, 3, 1, 2).astype(np.float32) / 255
    got = ort_run(out / "model.onnx", x, tmp_path)
    assert got.shape == (3, 1, S, S)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert 0.0 <= got.min() and got.max() <= 1.0


def test_stage_training_is_deterministic(crops: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        code, events = run_cli(
            "train-classify", "--data", str(crops), "--out", str(tmp_path / name),
            "--epochs", "1", "--seed", "5",
        )  # fmt: skip
        assert code == 0, events
        runs.append(torch.load(tmp_path / name / "weights.pt", weights_only=True)["state_dict"])
    for key in runs[0]:
        assert torch.equal(runs[0][key], runs[1][key]), key


def test_stage_cli_rejects_bad_input(crops: Path, tmp_path: Path) -> None:
    code, events = run_cli("train-segment", "--data", str(tmp_path / "nope"), "--out", "x")
    assert code == 1 and "no crops.json" in events[-1]["message"]
    code, events = run_cli("train-classify", "--data", str(crops), "--out", "x", "--epochs", "0")
    assert code == 2 and "--epochs must be at least 1" in events[-1]["message"]
    # A classifier's weights cannot warm-start the segmenter.
    run_cli("train-classify", "--data", str(crops), "--out", str(tmp_path / "c"), "--epochs", "1")
    code, events = run_cli(
        "train-segment", "--data", str(crops), "--out", str(tmp_path / "s"),
        "--base", str(tmp_path / "c" / "weights.pt"),
    )  # fmt: skip
    assert code == 1 and "weights of a classify model, not segment" in events[-1]["message"]
    assert not (tmp_path / "s" / "model.onnx").exists()


def test_segmenter_shape_follows_the_input() -> None:
    m = CropSegmenter().eval()
    with torch.no_grad():
        y = m(torch.rand(2, 3, 64, 64))
    assert y.shape == (2, 1, 64, 64)
