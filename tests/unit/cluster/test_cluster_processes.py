"""The node's daemons are recognised as ours from the moment they start."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from modelserve_cluster.node import processes


def test_a_daemon_just_started_is_ours(tmp_path: Path) -> None:
    # `up` checks a daemon right after starting it; an empty /proc/<pid>/cmdline in the
    # first instants after exec once made it call a starting kube-proxy dead and tear the
    # node down (3 of 30 starts on a busy 2-core machine).
    sleep = shutil.which("sleep")
    assert sleep is not None
    for _ in range(30):
        pid = processes.start_daemon([sleep, "30"], tmp_path / "sleep.log")
        try:
            assert processes.is_ours(pid, sleep)
            assert not processes.is_ours(pid, "/usr/bin/some-other-binary")
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert not processes.is_ours(pid, sleep)  # reaped: gone
