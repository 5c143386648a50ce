"""Small helpers shared by the scoring server's tests."""

from __future__ import annotations

import hashlib
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

SCORING_CLI = Path(sys.executable).with_name("modelserve-scoring")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll condition until it holds or the deadline passes."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class RunsCodeWhenUnpickled:
    """A pickle that creates `marker` when it is loaded: proof that loading it runs code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))
