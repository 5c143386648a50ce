"""Runs reconciles one at a time per object, folding bursts of triggers into one rerun."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import kopf

from ..kube import KubeError
from ..metrics import RECONCILE_DURATION, RECONCILE_ERRORS, RECONCILE_TOTAL

_Result = TypeVar("_Result")


class CoalescingRunner:
    """Per-key mutual exclusion: a trigger that arrives mid-reconcile causes one more pass.

    Kopf calls sync handlers from a thread pool, and a rollout fires many child events;
    without this, several threads would reconcile one endpoint at once and race on its
    applied traffic.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[tuple[str, ...]] = set()
        self._dirty: set[tuple[str, ...]] = set()

    def run(self, key: tuple[str, ...], work: Callable[[], object]) -> bool:
        """Run `work` now, or mark it for a rerun by the thread already running it."""
        with self._lock:
            if key in self._running:
                self._dirty.add(key)
                return False
            self._running.add(key)
        try:
            while True:
                work()
                with self._lock:
                    if key not in self._dirty:
                        return True
                    self._dirty.discard(key)
        finally:
            with self._lock:
                self._running.discard(key)
                self._dirty.discard(key)


def measured(kind: str, work: Callable[[], _Result], outcome: Callable[[_Result], str]) -> _Result:
    """Run a reconcile with metrics; API trouble becomes a Kopf retry, not a crash."""
    started = time.perf_counter()
    try:
        result = work()
    except KubeError as error:
        RECONCILE_ERRORS.labels(kind, f"http_{error.status}").inc()
        RECONCILE_TOTAL.labels(kind, "error").inc()
        raise kopf.TemporaryError(f"API server said {error}", delay=2) from error
    except Exception as error:
        RECONCILE_ERRORS.labels(kind, type(error).__name__).inc()
        RECONCILE_TOTAL.labels(kind, "error").inc()
        raise
    finally:
        RECONCILE_DURATION.labels(kind).observe(time.perf_counter() - started)
    RECONCILE_TOTAL.labels(kind, outcome(result)).inc()
    return result
