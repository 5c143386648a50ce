"""This process's leadership: wait as a standby, keep the lease renewed, exit when it cannot.

Only the leader runs Kopf and the reconcilers. Every write kube.py sends checks
`time_left()` first (the fence), and a watchdog ends the process the moment the renew
deadline passes, whatever the threads that reconcile are doing: a leader cut off from
the API server stops before its lease can end and a standby take over.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable

from .election import LeaderElector
from .metrics import LEADER

log = logging.getLogger(__name__)

# The exit status of a leader that could not renew its lease in time (EX_TEMPFAIL): the
# container restarts and the new process waits as a standby.
EXIT_LEASE_LOST = 75

_active: LeaderElector | None = None


def time_left() -> float | None:
    """Seconds the process may still write; None when it runs without leader election."""
    elector = _active
    return None if elector is None else elector.time_left()


def exit_process(reason: str) -> None:
    """End the process at once: no cleanup handler may write after leadership is gone."""
    log.critical("stopped leading: %s; exiting (status %d)", reason, EXIT_LEASE_LOST)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_LEASE_LOST)


class Leadership:
    """Runs the election loops of one process around a LeaderElector."""

    def __init__(
        self, elector: LeaderElector, on_lost: Callable[[str], None] = exit_process
    ) -> None:
        self.elector = elector
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_attempt = 0.0  # monotonic time of the last attempt (for the standby probe)

    def wait_until_leading(self, stop: threading.Event) -> bool:
        """Try until this process holds the lease (True) or `stop` is set (False)."""
        LEADER.set(0)
        holder = None
        while not stop.is_set():
            self.last_attempt = self.elector.clock()
            if self.elector.try_acquire_or_renew():
                return True
            if self.elector.holder() != holder:
                holder = self.elector.holder()
                log.info("standby: the lease is held by %s", holder or "nobody")
            stop.wait(self.elector.standby_wait())
        return False

    def start(self) -> None:
        """Act as the leader: fence writes, renew every retry period, watch the deadline."""
        global _active
        _active = self.elector
        LEADER.set(1)
        for target, name in ((self._renew, "renew"), (self._watchdog, "watchdog")):
            thread = threading.Thread(target=target, name=f"modelserve-lease-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, *, release: bool = True) -> None:
        """Stop renewing (after a clean shutdown); give the lease up so a standby starts now."""
        global _active
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5.0)
        LEADER.set(0)
        if release and self.elector.release():
            log.info("released the lease")
        if _active is self.elector:
            # Nothing reconciles any more (Kopf has stopped); an operator started again in
            # this process (tests) runs under its own election, or none.
            _active = None

    def _renew(self) -> None:
        retry = self.elector.timing.retry_period_s
        while not self._stop.wait(retry):
            self.elector.try_acquire_or_renew()
            if not self.elector.leading():
                holder = self.elector.holder()
                self._lose(f"the lease is held by {holder}" if holder else "the lease was lost")
                return

    def _watchdog(self) -> None:
        # Separate from renewing: a renewal stuck in a request must not delay the exit.
        while not self._stop.is_set():
            left = self.elector.time_left()
            if left <= 0:
                self._lose(
                    f"no renewal succeeded within the renew deadline "
                    f"({self.elector.timing.renew_deadline_s:g} s)"
                )
                return
            self._stop.wait(left)

    def _lose(self, reason: str) -> None:
        if self._lost.is_set() or self._stop.is_set():
            return
        self._lost.set()
        LEADER.set(0)
        self._on_lost(reason)
