"""``--device``: resolution (auto, cpu, cuda, cuda:N, the environment variable), the usage
errors that name the problem, and the device-correctness of what the trainer builds on the
model's device. This machine has no GPU: CUDA itself is stood in for by patching
``torch.cuda``'s queries, and "a tensor created on the wrong device" is caught with PyTorch's
``meta`` device, which refuses to mix with CPU tensors just as CUDA does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import FAST, run_cli
from visionloop_trainer.classify import CropClassifier
from visionloop_trainer.device import (
    DEVICE_ENV,
    describe_device,
    model_device,
    prepare_device,
    resolve_device,
)
from visionloop_trainer.events import TrainerError
from visionloop_trainer.loss import DetectionLoss
from visionloop_trainer.model import Detector, ModelConfig, count_gflops
from visionloop_trainer.segment import CropSegmenter
from visionloop_trainer.train import MODEL_PRESETS


@pytest.fixture(autouse=True)
def no_device_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEVICE_ENV, raising=False)


@pytest.fixture()
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture()
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """What PyTorch reports on a machine with two visible GPUs (only the queries)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=None: f"Test GPU {i}")


def test_auto_is_the_cpu_without_cuda(no_cuda: None) -> None:
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert describe_device(resolve_device("auto")) == {"device": "cpu", "device_name": None}


def test_explicit_cpu_even_with_gpus(two_gpus: None) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


def test_auto_and_cuda_pick_a_gpu_when_pytorch_sees_one(two_gpus: None) -> None:
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert describe_device(torch.device("cuda", 1)) == {
        "device": "cuda:1",
        "device_name": "Test GPU 1",
    }


def test_a_gpu_index_beyond_the_visible_ones_is_a_usage_error(two_gpus: None) -> None:
    with pytest.raises(TrainerError) as e:
        resolve_device("cuda:2")
    assert e.value.exit_code == 2
    assert "--device cuda:2: only 2 CUDA devices visible (cuda:0..cuda:1" in e.value.message


def test_cuda_without_a_gpu_is_a_usage_error(no_cuda: None) -> None:
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(TrainerError) as e:
            resolve_device(spec)
        assert e.value.exit_code == 2
        assert e.value.message.startswith(f"--device {spec}: CUDA is not available (")
        assert "use --device cpu or auto" in e.value.message


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cuda:", "cuda0", "mps", ""])
def test_malformed_device_names_the_choices(spec: str) -> None:
    with pytest.raises(TrainerError) as e:
        resolve_device(spec)
    assert e.value.exit_code == 2
    assert e.value.message == (
        f"--device must be one of auto, cpu, cuda or cuda:N, got {spec.strip().lower()!r}"
    )


def test_the_environment_variable_is_the_default(
    monkeypatch: pytest.MonkeyPatch, two_gpus: None
) -> None:
    monkeypatch.setenv(DEVICE_ENV, "cuda:1")
    assert resolve_device(None) == torch.device("cuda", 1)
    # The flag wins over the environment.
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setenv(DEVICE_ENV, "tpu")
    with pytest.raises(TrainerError) as e:
        resolve_device(None)
    assert e.value.message == f"{DEVICE_ENV} must be one of auto, cpu, cuda or cuda:N, got 'tpu'"


def test_prepare_device_leaves_the_cpu_alone() -> None:
    before = torch.backends.cudnn.benchmark
    prepare_device(torch.device("cpu"), 7)
    assert torch.backends.cudnn.benchmark == before is False


def test_train_with_cuda_on_a_cpu_machine_fails_before_reading_data(
    no_cuda: None, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    # The data set does not even exist: the device is checked first.
    code, events = run_cli(
        "train", "--data", str(tmp_path / "missing"), "--out", str(out), *FAST, "--device", "cuda"
    )
    assert code == 2
    assert [e["event"] for e in events] == ["error"]
    assert events[0]["message"].startswith("--device cuda: CUDA is not available")
    assert not out.exists()


@pytest.mark.parametrize("command", ["train-classify", "train-segment"])
def test_stage_commands_check_the_device_too(
    command: str, no_cuda: None, tmp_path: Path
) -> None:
    code, events = run_cli(
        command, "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"),
        "--device", "cuda:0",
    )  # fmt: skip
    assert code == 2
    assert events[-1]["message"].startswith("--device cuda:0: CUDA is not available")


def test_evaluate_checks_the_device(no_cuda: None, tmp_path: Path) -> None:
    code, events = run_cli(
        "evaluate", "--weights", str(tmp_path / "w.pt"), "--data", str(tmp_path),
        "--device", "gpu",
    )  # fmt: skip
    assert code == 2
    assert events[-1]["message"] == "--device must be one of auto, cpu, cuda or cuda:N, got 'gpu'"


# ------------------------------------------------------------------ device-correct construction


def test_detector_forward_decode_and_anchors_stay_on_the_model_device() -> None:
    """Every tensor the detector makes (anchors, DFL bins) is made on its input's device: on
    ``meta`` a CPU-made tensor would raise "Expected all tensors to be on the same device"."""
    model = Detector(ModelConfig(nc=4, **MODEL_PRESETS["n"])).to("meta")
    assert model_device(model) == torch.device("meta")
    x = torch.zeros(2, 3, 64, 64, device="meta")
    raw = model(x)
    assert all(r.device.type == "meta" for r in raw)
    model.export_mode = True
    out = model(x)
    assert (out.device.type, tuple(out.shape)) == ("meta", (2, 8, 84))
    points, strides = DetectionLoss(model.cfg).anchors([(8, 8), (4, 4), (2, 2)], x.device)
    assert (points.device.type, strides.device.type) == ("meta", "meta")
    # GFLOPs are counted with a dummy input on the model's device.
    model.export_mode = False
    assert count_gflops(model, 64) > 0


def test_stage_models_run_on_the_model_device() -> None:
    x = torch.zeros(3, 3, 32, 32, device="meta")
    assert CropClassifier(4).to("meta")(x).shape == (3, 4)
    assert CropSegmenter().to("meta")(x).device.type == "meta"
