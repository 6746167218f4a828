"""Shared fixtures: a tiny synthetic YOLO dataset and helpers to run the CLI in-process."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

# As the trainer process does (see __main__.py): spinning OpenMP threads crawl on a shared machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from synthetic_data import write_dataset  # noqa: E402
from visionloop_trainer.cli import main  # noqa: E402
from visionloop_trainer.events import EventStream  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 train + 4 val frames, 640×480, with labels (read-only: copy before changing)."""
    return write_dataset(tmp_path_factory.mktemp("tiny") / "ds", 8, 4, seed=3)


@pytest.fixture()
def dataset_copy(tiny_dataset: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ds"
    shutil.copytree(tiny_dataset, dst)
    yaml = (dst / "data.yaml").read_text().replace(str(tiny_dataset), str(dst))
    (dst / "data.yaml").write_text(yaml)
    return dst


def run_cli(*argv: str) -> tuple[int, list[dict[str, Any]]]:
    """Runs the CLI in this process; returns the exit code and the parsed events."""
    buf = io.StringIO()
    code = main(list(argv), EventStream(buf))
    events = [json.loads(line) for line in buf.getvalue().splitlines()]
    return code, events


FAST = ["--imgsz", "128", "--batch", "4", "--epochs", "1", "--threads", "2"]
