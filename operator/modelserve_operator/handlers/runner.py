"""The reconcile work queue: deduplicated keys, a short gathering delay, worker threads."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ..kube import KubeError
from ..metrics import RECONCILE_DURATION, RECONCILE_ERRORS, RECONCILE_TOTAL

log = logging.getLogger(__name__)

_Result = TypeVar("_Result")
Key = tuple[str, str, str]  # (kind, namespace, name)

# A failed reconcile is retried after 0.5 s, 1 s, 2 s, ... up to this.
MAX_RETRY_DELAY_S = 30.0


class WorkQueue:
    """Reconciles each key by one worker at a time, however often it is asked for.

    A rollout fires dozens of child events per endpoint (every pod and Deployment status
    change). Running a whole reconcile for each would be spent re-reading the same state:
    a key that is already waiting is not added twice, and events may ask for a short
    delay so that a burst is answered by one reconcile. A key asked for while it is being
    reconciled runs once more afterwards, so no change goes unseen. Failures are retried
    with exponential backoff, per key.
    """

    def __init__(self, work: Callable[[Key], object], workers: int) -> None:
        self._work = work
        self._workers = workers
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Key]] = []
        self._due: dict[Key, float] = {}  # waiting keys and when they are due
        self._running: set[Key] = set()
        self._again: dict[Key, float] = {}  # asked for while running: delay of the rerun
        self._failures: dict[Key, int] = {}
        self._sequence = itertools.count()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._first_done = threading.Event()

    def add(self, key: Key, delay: float = 0.0) -> None:
        """Ask for `key` to be reconciled within `delay` s (sooner if already asked sooner)."""
        with self._cond:
            if key in self._running:
                self._again[key] = min(delay, self._again.get(key, delay))
                return
            self._schedule(key, time.monotonic() + delay)

    def _schedule(self, key: Key, due: float) -> None:
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._sequence), key))
        self._cond.notify()

    def start(self) -> None:
        """Start the worker threads (once)."""
        with self._cond:
            if self._threads:
                return
            self._stopping = False
            for index in range(self._workers):
                thread = threading.Thread(
                    target=self._loop, name=f"modelserve-reconcile-{index}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking work; wait up to `timeout` s for reconciles in progress."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def pending(self) -> int:
        """How many keys wait or run now (for metrics and tests)."""
        with self._cond:
            return len(self._due) + len(self._running)

    def _next(self) -> Key | None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                while self._heap:
                    due, _, key = self._heap[0]
                    if self._due.get(key) != due:  # superseded by an earlier schedule
                        heapq.heappop(self._heap)
                        continue
                    if due > now:
                        break
                    heapq.heappop(self._heap)
                    del self._due[key]
                    self._running.add(key)
                    return key
                wait = self._heap[0][0] - now if self._heap else None
                self._cond.wait(wait)
            return None

    def _loop(self) -> None:
        while (key := self._next()) is not None:
            retry_in = None
            try:
                self._work(key)
                self._failures.pop(key, None)
                if not self._first_done.is_set():
                    # Marks when a new leader starts acting (failover time, docs/operator-ha.md).
                    self._first_done.set()
                    log.info("first reconcile since start done: %s %s/%s", *key)
            except Exception as error:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                retry_in = min(MAX_RETRY_DELAY_S, 0.5 * 2 ** (failures - 1))
                log.warning(
                    "reconcile of %s %s/%s failed (retry in %.1f s): %s", *key, retry_in, error
                )
            with self._cond:
                self._running.discard(key)
                again = self._again.pop(key, None)
                delays = [d for d in (again, retry_in) if d is not None]
                if delays:
                    self._schedule(key, time.monotonic() + min(delays))


def measured(kind: str, work: Callable[[], _Result], outcome: Callable[[_Result], str]) -> _Result:
    """Run a reconcile with metrics: counted by outcome, timed, errors counted by cause."""
    started = time.perf_counter()
    try:
        result = work()
    except KubeError as error:
        RECONCILE_ERRORS.labels(kind, f"http_{error.status}").inc()
        RECONCILE_TOTAL.labels(kind, "error").inc()
        raise
    except Exception as error:
        RECONCILE_ERRORS.labels(kind, type(error).__name__).inc()
        RECONCILE_TOTAL.labels(kind, "error").inc()
        raise
    finally:
        RECONCILE_DURATION.labels(kind).observe(time.perf_counter() - started)
    RECONCILE_TOTAL.labels(kind, outcome(result)).inc()
    return result
