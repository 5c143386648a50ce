"""Start, find and stop the node's daemons; only PIDs this package started are ever signalled."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from modelserve_cluster.processes import component_environment


def start_daemon(command: list[str], log_file: Path, env: dict[str, str] | None = None) -> int:
    """Start `command` in its own session with output to `log_file`; returns its PID."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**component_environment(), **(env or {})},
        )
    return process.pid


def command_line(pid: int) -> list[str]:
    """The argv of a live process, or [] when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


# Just after exec, /proc/<pid>/cmdline can read empty for a moment (seen on 2 busy cores:
# 3 of 30 fresh kube-proxy processes); a live process is given this long to show its argv.
CMDLINE_SETTLE_S = 1.0


def is_ours(pid: int, expected_argv0: str) -> bool:
    """True if `pid` is alive and still runs the binary we started (PIDs get reused)."""
    deadline = time.monotonic() + CMDLINE_SETTLE_S
    while True:
        if _proc_state(pid) in ("Z", "X", ""):
            return False
        argv = command_line(pid)
        if argv or time.monotonic() > deadline:
            return bool(argv) and argv[0] == expected_argv0
        time.sleep(0.01)


def _proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[0]


def stop_pid(pid: int, expected_argv0: str, grace_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after `grace_s`, but only if the PID still runs our binary."""
    if not is_ours(pid, expected_argv0):
        return
    os.kill(pid, signal.SIGTERM)
    if wait_until(lambda: not is_ours(pid, expected_argv0), grace_s):
        return
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not is_ours(pid, expected_argv0), 5.0)


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll `condition` until it holds or the deadline passes; returns whether it held."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return True
        except Exception:  # a probe failing just means "not yet"
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log, for error messages that point at the cause."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
