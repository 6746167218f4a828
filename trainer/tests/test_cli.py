"""The process contract: events, exit codes and outputs of ``python3 -m visionloop_trainer``
for good runs, bad input, determinism, warm starts and SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import torch

from conftest import FAST, run_cli

TRAINER_DIR = Path(__file__).resolve().parents[1]
OUTPUTS = ("model.onnx", "weights.pt", "metrics.json")


def assert_error(code: int, events: list[dict], *fragments: str) -> str:
    assert code != 0
    assert events and events[-1]["event"] == "error"
    msg = events[-1]["message"]
    for f in fragments:
        assert f in msg, msg
    return msg


def test_train_writes_the_three_outputs_and_reports_progress(
    dataset_copy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, events = run_cli(
        "train",
        "--data",
        str(dataset_copy),
        "--out",
        str(out),
        *FAST,
        "--epochs",
        "2",
        "--dataset-hash",
        "sha256:feed",
        "--version",
        "v2",
        "--device",
        "cpu",
    )
    assert code == 0, events
    kinds = [e["event"] for e in events]
    assert kinds == ["start", "epoch", "epoch", "done"]
    # The device it trained on: in the start event, the done event and metrics.json.
    assert (events[0]["device"], events[0]["device_name"]) == ("cpu", None)
    assert (events[-1]["device"], events[-1]["device_name"]) == ("cpu", None)
    ep = events[2]
    assert (ep["epoch"], ep["epochs"]) == (2, 2)
    for key in ("loss", "elapsed_s", "box_loss", "cls_loss", "lr", "images_per_s", "val_map50"):
        assert isinstance(ep[key], (int, float)), key
    done = events[-1]
    assert done["model"] == str((out / "model.onnx").resolve())
    assert done["weights"] == str((out / "weights.pt").resolve())
    assert 0.0 <= done["metrics"]["map50"] <= 1.0
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)  # no temp files left
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val"]["images"] == 4 and metrics["train"]["images"] == 8
    assert len(metrics["history"]) == 2
    assert (metrics["run"]["device"], metrics["run"]["device_name"]) == ("cpu", None)
    meta = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert meta["imgsz"] == "[128, 128]"
    assert meta["visionloop_dataset_hash"] == "sha256:feed" and meta["visionloop_version"] == "v2"
    ckpt = torch.load(out / "weights.pt", weights_only=True)
    assert ckpt["names"] == ["scratch", "crack", "dent", "stain"]
    assert ckpt["config"]["arch"] == "visionloop-det-v1"


def test_same_seed_gives_the_same_weights_and_warm_start_continues(
    dataset_copy: Path, tmp_path: Path
) -> None:
    def train(out: str, seed: str, *extra: str) -> dict[str, torch.Tensor]:
        code, events = run_cli(
            "train",
            "--data",
            str(dataset_copy),
            "--out",
            str(tmp_path / out),
            *FAST,
            "--seed",
            seed,
            "--val-interval",
            "0",
            *extra,
        )
        assert code == 0, events
        return torch.load(tmp_path / out / "weights.pt", weights_only=True)["state_dict"]

    # Same seed (and a background batch thread, which must not change the result) → same bits.
    a, b, c = train("a", "7"), train("b", "7", "--workers", "1"), train("c", "8")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())

    warm = train("warm", "7", "--base", str(tmp_path / "a" / "weights.pt"), "--freeze-backbone")
    metrics = json.loads((tmp_path / "warm" / "metrics.json").read_text())
    assert metrics["run"]["warm_start"]["reinitialized"] == 0
    # A frozen backbone leaves the base's backbone weights untouched; the heads move on.
    conv = "backbone.stem.conv.weight"
    assert torch.equal(warm[conv], a[conv])
    assert not torch.equal(warm["head.cls.0.2.weight"], a["head.cls.0.2.weight"])


def test_malformed_label_row(dataset_copy: Path, tmp_path: Path) -> None:
    lbl = sorted((dataset_copy / "labels" / "train").glob("*.txt"))[2]
    lbl.write_text("0 0.5 0.5 0.1 0.1\n1 0.2 0.2 0.1 0.1\n3 0.5 0.5\n")
    code, events = run_cli(
        "train", "--data", str(dataset_copy), "--out", str(tmp_path / "o"), *FAST
    )
    assert_error(code, events, f"labels/train/{lbl.name} line 3", "expected 5 values")
    assert not (tmp_path / "o").exists()


def test_class_id_out_of_range(dataset_copy: Path, tmp_path: Path) -> None:
    lbl = sorted((dataset_copy / "labels" / "val").glob("*.txt"))[0]
    lbl.write_text("7 0.5 0.5 0.1 0.1\n")
    code, events = run_cli(
        "train", "--data", str(dataset_copy), "--out", str(tmp_path / "o"), *FAST
    )
    msg = assert_error(code, events, f"labels/val/{lbl.name} line 1")
    assert msg.endswith("class id 7 out of range 0..3")


def test_missing_image(dataset_copy: Path, tmp_path: Path) -> None:
    img = sorted((dataset_copy / "images" / "train").glob("*.png"))[1]
    img.unlink()
    code, events = run_cli(
        "train", "--data", str(dataset_copy), "--out", str(tmp_path / "o"), *FAST
    )
    assert_error(code, events, f"labels/train/{img.stem}.txt", "missing image")


def test_unreadable_image(dataset_copy: Path, tmp_path: Path) -> None:
    img = sorted((dataset_copy / "images" / "train").glob("*.png"))[4]
    img.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, events = run_cli(
        "train", "--data", str(dataset_copy), "--out", str(tmp_path / "o"), *FAST
    )
    assert_error(code, events, f"images/train/{img.name}", "cannot decode image")


def test_empty_dataset(tmp_path: Path) -> None:
    ds = tmp_path / "empty"
    (ds / "images" / "train").mkdir(parents=True)
    (ds / "labels" / "train").mkdir(parents=True)
    (ds / "data.yaml").write_text(
        "path: .\ntrain: images/train\nval: images/val\nnames: [scratch]\n"
    )
    code, events = run_cli("train", "--data", str(ds), "--out", str(tmp_path / "o"), *FAST)
    assert_error(code, events, "images/train", "no training images")


def test_corrupt_base_weights(dataset_copy: Path, tmp_path: Path) -> None:
    base = tmp_path / "broken.pt"
    base.write_bytes(b"PK\x03\x04 this is not a torch file")
    code, events = run_cli(
        "train",
        "--data",
        str(dataset_copy),
        "--out",
        str(tmp_path / "o"),
        *FAST,
        "--base",
        str(base),
    )
    assert_error(code, events, str(base), "not a readable weights file")
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    code, events = run_cli(
        "train",
        "--data",
        str(dataset_copy),
        "--out",
        str(tmp_path / "o"),
        *FAST,
        "--base",
        str(other),
    )
    assert_error(code, events, str(other), "not a VisionLoop weights file")


def test_bad_arguments_exit_2_with_an_error_event(dataset_copy: Path, tmp_path: Path) -> None:
    code, events = run_cli(
        "train", "--data", str(dataset_copy), "--out", str(tmp_path / "o"), "--imgsz", "100"
    )
    assert code == 2 and "multiple of 32" in assert_error(code, events)
    code, events = run_cli("train", "--out", str(tmp_path / "o"))
    assert code == 2 and "--data" in assert_error(code, events)


def spawn(*argv: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(TRAINER_DIR))
    return subprocess.Popen(
        [sys.executable, "-m", "visionloop_trainer", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_process_stdout_is_only_json_lines_and_exit_code_is_non_zero(
    dataset_copy: Path, tmp_path: Path
) -> None:
    lbl = sorted((dataset_copy / "labels" / "train").glob("*.txt"))[0]
    lbl.write_text("0 0.5 0.5 0.1 0.1 0.3\n")
    p = spawn("train", "--data", str(dataset_copy), "--out", str(tmp_path / "o"), *FAST)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1
    lines = out.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == {"event": "error", "message": json.loads(lines[0])["message"]}
    assert f"labels/train/{lbl.name} line 1" in json.loads(lines[0])["message"]
    assert "error:" in err  # the human-readable copy goes to stderr


def test_sigterm_cancels_at_a_batch_boundary_and_writes_nothing(
    dataset_copy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o"
    p = spawn(
        "train",
        "--data",
        str(dataset_copy),
        "--out",
        str(out),
        "--imgsz",
        "128",
        "--batch",
        "2",
        "--epochs",
        "200",
    )
    assert p.stdout is not None
    first = json.loads(p.stdout.readline())
    assert first["event"] == "start"
    time.sleep(1.0)  # inside the training loop by now
    p.send_signal(signal.SIGTERM)
    rest, _ = p.communicate(timeout=60)
    events = [json.loads(line) for line in rest.splitlines()]
    assert events[-1] == {"event": "cancelled", "signal": "SIGTERM"}
    assert p.returncode == 143
    assert not out.exists() or list(out.iterdir()) == []


def test_export_and_evaluate_commands(
    dataset_copy: Path, tmp_path: Path
) -> None:
    code, _ = run_cli(
        "train",
        "--data",
        str(dataset_copy),
        "--out",
        str(tmp_path / "a"),
        *FAST,
        "--val-interval",
        "0",
        "--version",
        "v7",
        "--dataset-hash",
        "h1",
    )
    assert code == 0
    code, events = run_cli(
        "export",
        "--weights",
        str(tmp_path / "a" / "weights.pt"),
        "--out",
        str(tmp_path / "e" / "m.onnx"),
        "--imgsz",
        "160",
    )
    assert code == 0 and events[-1]["event"] == "done"
    proto = onnx.load(str(tmp_path / "e" / "m.onnx"))
    dims = [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert dims == [1, 8, 20 * 20 + 10 * 10 + 5 * 5]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert (meta["imgsz"], meta["visionloop_version"], meta["visionloop_dataset_hash"]) == (
        "[160, 160]",
        "v7",
        "h1",
    )
    code, events = run_cli(
        "evaluate", "--weights", str(tmp_path / "a" / "weights.pt"), "--data", str(dataset_copy)
    )
    assert code == 0 and events[-1]["event"] == "done"
    assert events[-1]["metrics"]["images"] == 4 and 0 <= events[-1]["metrics"]["map50"] <= 1
    code, events = run_cli(
        "export", "--weights", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "x.onnx")
    )
    assert_error(code, events, "nope.pt", "not found")
