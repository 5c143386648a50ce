"""hack/lib/phases.sh: a background phase is timed, its failure shows its log, and it never
outlives a run that failed before waiting for it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail\nsource hack/lib/phases.sh\n{script}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _table_line(output: str, phase: str) -> str:
    table = output[output.rindex("\nphase ") :]
    return next(line for line in table.splitlines() if line.startswith(phase))


def test_a_background_phase_runs_beside_the_next_and_is_in_the_table(tmp_path: Path) -> None:
    # The background phase can only finish once the foreground one has run: they overlap.
    flag = tmp_path / "foreground-ran"
    result = _run(
        f'phase_start "build" bash -c "while [[ ! -e {flag} ]]; do sleep 0.1; done; echo built"\n'
        f'phase "setup" touch {flag}\n'
        'phase_wait "build"\n'
        "phase_table"
    )
    assert result.returncode == 0, result.stderr
    assert "build (background)" in _table_line(result.stdout, "build")
    assert _table_line(result.stdout, "build").endswith("ok")
    assert _table_line(result.stdout, "setup").endswith("ok")


def test_a_failed_background_phase_fails_the_wait_and_shows_its_log() -> None:
    result = _run(
        'phase_start "build" bash -c "echo go: module not found >&2; exit 3"\n'
        'phase_wait "build" || echo "wait returned $?"\n'
        "phase_table"
    )
    assert "wait returned 3" in result.stdout
    assert "go: module not found" in result.stderr
    assert _table_line(result.stdout, "build").endswith("failed (3)")


def test_a_background_phase_is_stopped_when_an_earlier_phase_fails() -> None:
    # A command line no other process has, to find what is left of the phase afterwards.
    marker = f"sleep {3000 + os.getpid() % 1000}.5"
    result = _run(
        "trap phase_table EXIT\n"
        f'phase_start "build" bash -c "{marker}; true"\n'
        'phase "setup" false\n'
    )
    assert result.returncode != 0
    assert _table_line(result.stdout, "build").endswith("stopped: an earlier phase failed")
    assert _table_line(result.stdout, "setup").endswith("failed (1)")
    deadline = time.monotonic() + 10
    while _running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(marker), f"{marker!r} outlived the failed run"


def _running(command_line: str) -> bool:
    return subprocess.run(["pgrep", "-f", f"^{command_line}$"], capture_output=True).returncode == 0


def _seconds(clock: str) -> int:
    minutes, _, seconds = clock.rpartition("m")
    return int(minutes or 0) * 60 + int(seconds.removesuffix("s"))


def test_a_background_phase_is_timed_until_it_ended_not_until_it_was_waited_for() -> None:
    # "quick" ends at once but is waited for only after "slow": timed until it was waited
    # for, it would show at least as long as "slow".
    result = _run(
        'PHASE_HEARTBEAT_S=2 phase_start "quick" true\n'
        'phase "slow" sleep 4\n'
        'phase_wait "quick"\n'
        "phase_table"
    )
    assert result.returncode == 0, result.stderr
    quick = _seconds(_table_line(result.stdout, "quick").split()[-2])
    slow = _seconds(_table_line(result.stdout, "slow").split()[-2])
    assert quick < slow, result.stdout
    # Its heartbeat stopped when it ended: no "still running" while "slow" ran.
    assert "quick: still running" not in result.stderr
