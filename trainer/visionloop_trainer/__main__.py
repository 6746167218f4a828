"""``python3 -m visionloop_trainer``: the process entry point."""

import os

# OpenMP threads that spin while waiting steal the cores the camera agent and the server need
# when they share a machine; passive waiting costs little here (set before torch loads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .cli import run_process  # noqa: E402

raise SystemExit(run_process())
