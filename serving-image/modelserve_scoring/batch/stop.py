"""SIGTERM for the batch runner, which runs as PID 1 in its pod: the kernel ignores a signal
PID 1 has no handler for, so without one a deleted pod scores on until its grace period ends
and it is killed. Before scoring starts the signal stops the process at once; while mini-batches
are in flight the runner stops starting new ones, writes those that finish within a grace
period and abandons the others (a mini-batch without its marker is redone by the next try)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: the exit status of a process ended by SIGTERM (128 + 15), as a shell reports it
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived; the runner stops (BaseException: no `except Exception` swallows it)."""


class StopRequest:
    """Whether SIGTERM arrived, and what it interrupts or wakes."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._interrupt = True

    @property
    def requested(self) -> bool:
        """SIGTERM has arrived."""
        return self._event.is_set()

    def install(self) -> None:
        """Handle SIGTERM in this (the main) thread from now on."""
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # a signal handler runs between two bytecodes of the main thread: it takes no lock
        self._event.set()
        if self._interrupt:
            raise Terminated()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Inside, SIGTERM only sets `requested`, which the scoring loop polls (so a part and
        its marker are never cut in half); outside, it interrupts whatever runs."""
        self._interrupt = False
        try:
            yield
        finally:
            self._interrupt = True
