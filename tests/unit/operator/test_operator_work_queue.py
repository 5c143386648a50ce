"""The reconcile work queue: one reconcile per burst, none concurrent per key, retries."""

from __future__ import annotations

import threading
import time
from collections import Counter

from modelserve_operator.handlers.runner import WorkQueue

KEY = ("OnlineEndpoint", "ns", "iris")


def wait_until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_burst_of_requests_for_one_key_is_one_reconcile():
    runs: Counter = Counter()
    queue = WorkQueue(lambda key: runs.update([key]), workers=4)
    for _ in range(50):  # queued before any worker runs, like a rollout's events
        queue.add(KEY, delay=0.2)
    queue.add(("OnlineEndpoint", "ns", "other"))
    queue.start()
    try:
        wait_until(lambda: queue.pending() == 0 and len(runs) == 2, "both keys reconciled")
    finally:
        queue.stop()
    assert runs[KEY] == 1


def test_a_request_during_a_reconcile_runs_it_once_more_never_concurrently():
    started, release = threading.Event(), threading.Event()
    running, overlaps, runs = [0], [0], [0]
    lock = threading.Lock()

    def work(key) -> None:
        with lock:
            running[0] += 1
            overlaps[0] = max(overlaps[0], running[0])
            runs[0] += 1
        started.set()
        if runs[0] == 1:
            release.wait(5)
        with lock:
            running[0] -= 1

    queue = WorkQueue(work, workers=4)
    queue.start()
    try:
        queue.add(KEY)
        assert started.wait(5)
        for _ in range(10):  # the change these announce may postdate what the run read
            queue.add(KEY)
        release.set()
        wait_until(lambda: queue.pending() == 0 and runs[0] >= 2, "the rerun")
    finally:
        queue.stop()
    assert runs[0] == 2
    assert overlaps[0] == 1


def test_a_failed_reconcile_is_retried_until_it_succeeds():
    attempts = [0]

    def work(key) -> None:
        attempts[0] += 1
        if attempts[0] < 3:
            raise RuntimeError("API server said 503")

    queue = WorkQueue(work, workers=1)
    queue.start()
    try:
        queue.add(KEY)
        wait_until(lambda: attempts[0] == 3 and queue.pending() == 0, "two retries", timeout=15)
    finally:
        queue.stop()
    assert attempts[0] == 3


def test_an_earlier_request_overrides_a_later_one():
    done = threading.Event()
    queue = WorkQueue(lambda key: done.set(), workers=1)
    queue.start()
    try:
        queue.add(KEY, delay=3600)
        queue.add(KEY, delay=0)
        assert done.wait(5), "the undelayed request did not run"
    finally:
        queue.stop()


def test_stop_ends_the_workers():
    queue = WorkQueue(lambda key: None, workers=3)
    queue.start()
    queue.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("modelserve-reconcile-")]
