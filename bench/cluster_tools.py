"""kubectl, helm and polling for the benchmarks that run on a cluster (kind or kwokctl)."""

from __future__ import annotations

import functools
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def _tool_dir() -> str:
    # Asked once: the benches call kubectl in polling loops, some of them while timing.
    return subprocess.run(
        [str(REPO / "cluster" / "build-binaries.sh"), "--print-dir"],
        capture_output=True,
        text=True,
    ).stdout.strip()


def kubectl_bin() -> str:
    """The project's own kubectl build (cluster/build-binaries.sh), else the one on PATH."""
    built = _tool_dir()
    return str(Path(built, "kubectl")) if built else "kubectl"


def helm_bin() -> str:
    """The project's own helm build, else the one on PATH."""
    built = _tool_dir()
    return str(Path(built, "helm")) if built and Path(built, "helm").exists() else "helm"


def run(argv: list[str], input_text: str | None = None, check: bool = True) -> str:
    """A command's stdout; with `check`, a failure ends the bench naming the command."""
    ran = subprocess.run(argv, input=input_text, capture_output=True, text=True, check=False)
    if check and ran.returncode != 0:
        raise SystemExit(f"{Path(argv[0]).name} {' '.join(argv[1:])}: {ran.stderr.strip()}")
    return ran.stdout


def kubectl(*args: str, input_text: str | None = None, check: bool = True) -> str:
    """`kubectl ARGS` (the kubeconfig from the environment)."""
    return run([kubectl_bin(), *args], input_text, check)


def wait(check: Callable[[], Any], what: str, timeout: float = 300.0, interval: float = 0.2) -> Any:
    """The first truthy `check()`, polled every `interval` s; the bench ends after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
