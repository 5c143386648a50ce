"""Start detached component processes, remember them in pid files, stop exactly those."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Recorded:
    """A process we started: its pid and kernel start time (guards against pid reuse)."""

    pid: int
    start_time: str


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may contain spaces; everything after its ')' is fixed.
    return raw[raw.rindex(")") + 2 :].split()


def start_time_of(pid: int) -> str | None:
    fields = _proc_stat(pid)
    # Field 22 of /proc/pid/stat is the start time; fields[0] here is field 3.
    return fields[19] if fields else None


def is_alive(record: Recorded) -> bool:
    """True if the recorded process still runs (not exited, not a zombie, not a reused pid)."""
    fields = _proc_stat(record.pid)
    if fields is None:
        return False
    state, start = fields[0], fields[19]
    return state not in ("Z", "X") and start == record.start_time


def read_pid_file(path: Path) -> Recorded | None:
    try:
        pid_text, start = path.read_text().split()
        return Recorded(int(pid_text), start)
    except (FileNotFoundError, ValueError):
        return None


# The cluster never leaves the machine: an outer HTTP proxy would only get in the way.
# kube-apiserver, for one, sends its pod-proxy and webhook traffic through $HTTPS_PROXY,
# and a proxy elsewhere cannot reach the pod IPs the API server could reach itself.
PROXY_VARIABLES = frozenset(
    name
    for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for name in (base, base.upper())
)


def component_environment() -> dict[str, str]:
    """The environment for a cluster component: ours, without any HTTP proxy settings."""
    return {key: value for key, value in os.environ.items() if key not in PROXY_VARIABLES}


def start_detached(argv: list[str], log_file: Path, pid_file: Path) -> Recorded:
    """Run `argv` in its own session, output appended to `log_file`, pid recorded."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=component_environment(),
        )
    start = start_time_of(process.pid)
    if start is None:
        raise RuntimeError(f"{argv[0]} exited at once; see {log_file}")
    record = Recorded(process.pid, start)
    pid_file.write_text(f"{record.pid} {record.start_time}\n")
    return record


def stop(records: list[Recorded], grace_seconds: float = 20.0) -> list[Recorded]:
    """SIGTERM each live process, SIGKILL what remains after the grace period.

    Returns the processes still alive at the end (empty when all is well).
    """
    live = [r for r in records if is_alive(r)]
    for record in live:
        _signal_group(record, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(is_alive(r) for r in live):
        time.sleep(0.1)
    for record in live:
        if is_alive(record):
            _signal_group(record, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(is_alive(r) for r in live):
        time.sleep(0.1)
    return [r for r in live if is_alive(r)]


def _signal_group(record: Recorded, signum: int) -> None:
    # Each component leads its own session, so its group holds it and any helper it forked.
    try:
        os.killpg(record.pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(record.pid, signum)
