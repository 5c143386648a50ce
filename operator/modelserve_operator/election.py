"""Lease-based leader election: who may reconcile, and until when (pure logic, no I/O)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ElectionTiming:
    """How long a lease lasts, how long a leader may fail to renew it, how often to try.

    Defaults: lease 10 s, renew deadline 7 s, retry 2 s. A standby takes over at most a
    lease (plus one look) after the last renewal it saw, so a crash costs 10-12 s before
    the new leader starts; the 3 s between the renew deadline and the lease's end is the
    margin a partitioned leader has to stop before anyone else may start.
    """

    lease_duration_s: float = 10.0
    renew_deadline_s: float = 7.0
    retry_period_s: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period_s < self.renew_deadline_s < self.lease_duration_s:
            raise ValueError(
                "leader election needs retry period < renew deadline < lease duration, got "
                f"{self.retry_period_s} s, {self.renew_deadline_s} s, {self.lease_duration_s} s"
            )


@dataclass(frozen=True)
class LeaseRecord:
    """The election fields of a coordination.k8s.io/v1 Lease, and its resourceVersion."""

    holder: str = ""
    lease_duration_s: int = 0
    acquire_time: dt.datetime | None = None
    renew_time: dt.datetime | None = None
    transitions: int = 0
    resource_version: str | None = None


class LeaseConflict(Exception):
    """The Lease was created or changed by someone else since it was read."""


class LeaseStore(Protocol):
    """Reads and writes one Lease; update() is conditional on record.resource_version."""

    def get(self) -> LeaseRecord | None: ...

    def create(self, record: LeaseRecord) -> LeaseRecord: ...

    def update(self, record: LeaseRecord) -> LeaseRecord: ...


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LeaderElector:
    """One candidate: tries to take or renew the lease; knows how long its leadership lasts.

    Time is measured on this process's monotonic clock only, as client-go does: a standby
    counts a lease as expired a whole lease duration after it *saw* the record change, and
    the leader counts its renewal from before it sent the request. Neither trusts the
    timestamps in the Lease, so clocks that disagree between nodes do not matter.
    """

    def __init__(
        self,
        store: LeaseStore,
        identity: str,
        timing: ElectionTiming | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.store = store
        self.identity = identity
        self.timing = timing or ElectionTiming()
        self.clock = clock
        self._wall_clock = wall_clock
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        self._renewed_at: float | None = None  # start of our last successful write

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this candidate holds the lease afterwards."""
        started = self.clock()
        try:
            current = self.store.get()
            if current is None:
                self._remember(self.store.create(self._record(None)), started)
                return True
            if current.resource_version != (self._observed or LeaseRecord()).resource_version:
                self._observed, self._observed_at = current, self.clock()
            held_by_other = current.holder and current.holder != self.identity
            if held_by_other and self.clock() < self._observed_at + self._duration(current):
                self._renewed_at = None
                return False
            self._remember(self.store.update(self._record(current)), started)
            return True
        except LeaseConflict:
            # Another candidate wrote first; its record is read on the next attempt.
            return self.leading()
        except Exception as error:  # the API server did not answer: keep what we know
            log.warning("lease %s: %s", "renewal" if self._renewed_at else "acquisition", error)
            return self.leading()

    def time_left(self) -> float:
        """Seconds this leader may still act (0 when it is not, or no longer, the leader)."""
        if self._renewed_at is None:
            return 0.0
        return max(0.0, self._renewed_at + self.timing.renew_deadline_s - self.clock())

    def leading(self) -> bool:
        return self.time_left() > 0

    def standby_wait(self) -> float:
        """How long a standby waits before its next attempt: the retry period, or less if
        the holder's lease ends sooner (a takeover should not wait a whole extra period)."""
        if self._observed is None or not self._observed.holder:
            return self.timing.retry_period_s
        ends_in = self._observed_at + self._duration(self._observed) - self.clock()
        return max(0.05, min(self.timing.retry_period_s, ends_in + 0.05))

    def holder(self) -> str:
        """The identity in the last record seen ("" when none)."""
        return self._observed.holder if self._observed else ""

    def release(self) -> bool:
        """Give the lease up (on a clean shutdown) so a standby need not wait for it to end."""
        if self._renewed_at is None:
            return False
        self._renewed_at = None
        try:
            current = self.store.get()
            if current is None or current.holder != self.identity:
                return False
            # client-go releases this way too: no holder, and a lease of one second.
            self.store.update(
                replace(current, holder="", lease_duration_s=1, renew_time=self._wall_clock())
            )
        except Exception as error:  # the lease then ends by itself
            log.warning("could not release lease: %s", error)
            return False
        return True

    def _duration(self, record: LeaseRecord) -> float:
        # The holder's own promise; our setting when the record carries none.
        return float(record.lease_duration_s or self.timing.lease_duration_s)

    def _record(self, current: LeaseRecord | None) -> LeaseRecord:
        now = self._wall_clock()
        ours = current is not None and current.holder == self.identity
        return LeaseRecord(
            holder=self.identity,
            lease_duration_s=int(self.timing.lease_duration_s),
            acquire_time=current.acquire_time if ours and current else now,
            renew_time=now,
            # A new Lease starts at 0; each change of holder counts one.
            transitions=(current.transitions + (0 if ours else 1)) if current else 0,
            resource_version=current.resource_version if current else None,
        )

    def _remember(self, written: LeaseRecord, started: float) -> None:
        if self._renewed_at is None:
            log.info("became the leader (lease held by %s)", self.identity)
        self._observed, self._observed_at = written, self.clock()
        self._renewed_at = started
