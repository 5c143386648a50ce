"""Deadlines of many waiters enforced by one periodic timer instead of a timer each.

A timer per call costs several µs under uvloop: asyncio.timeout about 20 µs, loop.call_at
about 6 µs of a one-row prediction (bench/scoring.py, and an in-process A/B of the REST app,
2026-12-05). A waiter past its deadline is handed to `on_late` at most one period late.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Waiter = TypeVar("Waiter", bound=Hashable)

PERIOD_S = 0.05


class DeadlineSweep(Generic[Waiter]):
    """Tracks waiters' deadlines (loop time); every `period_s` while any is tracked, those
    past theirs are untracked and given to `on_late`."""

    def __init__(self, on_late: Callable[[Waiter], None], period_s: float = PERIOD_S) -> None:
        self._on_late = on_late
        self._period_s = period_s
        self._due: dict[Waiter, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def track(self, waiter: Waiter, deadline: float) -> None:
        """`waiter` waits until `deadline` at the latest."""
        self._due[waiter] = deadline
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._period_s, self._check, loop)

    def untrack(self, waiter: Waiter) -> None:
        """`waiter` is done waiting (or was already handed to `on_late`)."""
        self._due.pop(waiter, None)

    def stop(self) -> None:
        """Stop the timer; nothing tracked is handed over any more."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for waiter, deadline in list(self._due.items()):
            if deadline <= now:
                del self._due[waiter]
                self._on_late(waiter)
        self._timer = loop.call_later(self._period_s, self._check, loop) if self._due else None
