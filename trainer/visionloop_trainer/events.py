"""The trainer's half of the process contract (DESIGN.md §4): JSON-lines events on stdout,
human-readable logs on stderr, and the one error type whose message names the offending file
and line.

Nothing else in the package writes to stdout; everything that is not an event goes to stderr.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, TextIO


class TrainerError(Exception):
    """A failure the user can act on (bad data, bad flags, unreadable base weights).

    The message is reported verbatim in the ``error`` event, so it names the file (relative to
    the dataset root where that helps) and, for label files, the 1-based line.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class CancelledError(Exception):
    """Raised at a batch boundary after SIGTERM/SIGINT was received."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"cancelled by {signal_name}")
        self.signal_name = signal_name


def _clean(value: Any) -> Any:
    """JSON has no NaN/Infinity: report them as null rather than emit invalid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):  # numpy / torch scalars
        return _clean(value.item())
    return value


class EventStream:
    """Writes one JSON object per line to ``out`` (stdout) and flushes at once, so a parent
    process that reads line by line sees every event when it happens."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out if out is not None else sys.stdout

    def emit(self, event: str, **fields: Any) -> None:
        record = {"event": event, **_clean(fields)}
        self.out.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
        self.out.flush()


def log(message: str) -> None:
    """A human-readable line on stderr."""
    sys.stderr.write(f"[visionloop-trainer] {message}\n")
    sys.stderr.flush()
