"""Leader election on a fake clock and a fake Lease API: who leads, takeover, fencing, exit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest
from modelserve_operator.election import (
    ElectionTiming,
    LeaderElector,
    LeaseConflict,
    LeaseRecord,
)
from modelserve_operator.kube import Kube, NotLeader
from modelserve_operator.leadership import Leadership
from modelserve_operator.lease_store import lease_manifest, record_from_lease

TIMING = ElectionTiming(lease_duration_s=10, renew_deadline_s=7, retry_period_s=2)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeLeaseApi:
    """One Lease with resourceVersion semantics, as the API server keeps it."""

    def __init__(self) -> None:
        self.lease: LeaseRecord | None = None
        self.version = 0
        self.reachable = True

    def store(self) -> FakeStore:
        return FakeStore(self)

    def write(self, record: LeaseRecord) -> LeaseRecord:
        self.version += 1
        self.lease = dataclasses.replace(record, resource_version=str(self.version))
        return self.lease


class FakeStore:
    def __init__(self, api: FakeLeaseApi) -> None:
        self.api = api
        self.cut_off = False  # a partition between this candidate and the API server

    def _check(self) -> None:
        if self.cut_off:
            raise TimeoutError("the API server did not answer")

    def get(self) -> LeaseRecord | None:
        self._check()
        return self.api.lease

    def create(self, record: LeaseRecord) -> LeaseRecord:
        self._check()
        if self.api.lease is not None:
            raise LeaseConflict("exists")
        return self.api.write(record)

    def update(self, record: LeaseRecord) -> LeaseRecord:
        self._check()
        if self.api.lease is None or record.resource_version != self.api.lease.resource_version:
            raise LeaseConflict("changed")
        return self.api.write(record)


def wall() -> dt.datetime:
    return dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def candidates(clock: FakeClock, api: FakeLeaseApi, *names: str) -> list[LeaderElector]:
    return [LeaderElector(api.store(), n, TIMING, clock=clock, wall_clock=wall) for n in names]


def test_only_one_candidate_leads():
    clock, api = FakeClock(), FakeLeaseApi()
    a, b = candidates(clock, api, "a", "b")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert api.lease.holder == "a" and api.lease.transitions == 0
    for _ in range(20):  # renewing every retry period keeps b out for good
        clock.advance(TIMING.retry_period_s)
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()
    assert a.leading() and not b.leading()
    assert b.holder() == "a"


def test_a_standby_takes_over_one_lease_after_the_last_renewal_it_saw():
    clock, api = FakeClock(), FakeLeaseApi()
    a, b = candidates(clock, api, "a", "b")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b sees the renewal now
    # a dies. Until a whole lease has passed since b saw the record change, b waits.
    clock.advance(TIMING.lease_duration_s - 0.1)
    assert not b.try_acquire_or_renew()
    assert b.standby_wait() == pytest.approx(0.15)  # wakes just after the lease ends
    clock.advance(0.2)
    assert b.try_acquire_or_renew()
    assert api.lease.holder == "b" and api.lease.transitions == 1
    assert api.lease.acquire_time == wall()


def test_the_standby_times_the_lease_from_when_it_saw_it_not_from_the_record():
    # Clocks that disagree do not matter: renewTime in the Lease is never compared.
    clock, api = FakeClock(), FakeLeaseApi()
    a, b = candidates(clock, api, "a", "b")
    a.try_acquire_or_renew()
    api.lease = dataclasses.replace(api.lease, renew_time=dt.datetime(1999, 1, 1, tzinfo=dt.UTC))
    assert not b.try_acquire_or_renew()


def test_a_released_lease_is_taken_at_once():
    clock, api = FakeClock(), FakeLeaseApi()
    a, b = candidates(clock, api, "a", "b")
    a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert a.release()
    assert not a.leading()
    assert api.lease.holder == "" and api.lease.lease_duration_s == 1
    assert b.try_acquire_or_renew()


def test_two_candidates_racing_for_a_free_lease_yield_one_leader():
    clock, api = FakeClock(), FakeLeaseApi()
    a, b = candidates(clock, api, "a", "b")
    a.try_acquire_or_renew()
    a.release()
    # Both read the released record; the second write carries a stale resourceVersion.
    free = api.lease
    assert a.store.update(dataclasses.replace(free, holder="a"))
    with pytest.raises(LeaseConflict):
        b.store.update(dataclasses.replace(free, holder="b"))
    assert not b.try_acquire_or_renew()


def test_a_leader_that_cannot_renew_stops_before_its_lease_can_end_elsewhere():
    clock, api = FakeClock(), FakeLeaseApi()
    a, b = candidates(clock, api, "a", "b")
    a.try_acquire_or_renew()
    b.try_acquire_or_renew()
    a.store.cut_off = True
    while a.try_acquire_or_renew():
        clock.advance(0.5)
    stopped_after = clock.now - 1000.0
    assert stopped_after <= TIMING.renew_deadline_s
    assert a.time_left() == 0
    # b may take over only later: its lease clock started when it saw a's renewal.
    assert not b.try_acquire_or_renew()
    clock.advance(TIMING.lease_duration_s - stopped_after)
    assert b.try_acquire_or_renew()


def test_a_leader_that_finds_another_holder_stops_at_once():
    clock, api = FakeClock(), FakeLeaseApi()
    (a,) = candidates(clock, api, "a")
    a.try_acquire_or_renew()
    api.write(dataclasses.replace(api.lease, holder="intruder"))
    assert not a.try_acquire_or_renew()
    assert a.time_left() == 0


def test_timing_must_leave_room_to_stop_before_the_lease_ends():
    with pytest.raises(ValueError, match="renew deadline < lease duration"):
        ElectionTiming(lease_duration_s=5, renew_deadline_s=7, retry_period_s=2)


def test_the_watchdog_ends_leadership_when_renewals_hang():
    lost: list[str] = []
    done = threading.Event()
    api = FakeLeaseApi()

    class Hanging(FakeStore):
        def get(self) -> LeaseRecord | None:
            if self.cut_off:  # a request that never answers
                done.wait(30)
            return super().get()

    elector = LeaderElector(
        Hanging(api),
        "a",
        ElectionTiming(lease_duration_s=0.5, renew_deadline_s=0.3, retry_period_s=0.05),
        wall_clock=wall,
    )
    assert elector.try_acquire_or_renew()
    leadership = Leadership(elector, on_lost=lambda why: (lost.append(why), done.set()))
    elector.store.cut_off = True
    leadership.start()
    try:
        assert done.wait(5), "the watchdog did not end leadership"
    finally:
        leadership.stop(release=False)
    assert lost and "renew deadline" in lost[0]


def test_writes_are_refused_once_the_lease_may_have_ended():
    class NoNetwork:
        def call(self, *args, **kwargs):
            raise AssertionError("a fenced write must not be sent")

    left = [0.0]
    kube = Kube(NoNetwork(), fence=lambda: left[0])  # type: ignore[arg-type]
    with pytest.raises(NotLeader):
        kube.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}})
    left[0] = 3.0
    assert kube._write_timeout("PATCH", "/x") == (3.0, 3.0)
    assert Kube(NoNetwork(), fence=lambda: None)._write_timeout("PATCH", "/x") == (5.0, 60.0)  # type: ignore[arg-type]


def test_lease_round_trips_through_its_manifest():
    record = LeaseRecord(
        holder="pod-1_ab",
        lease_duration_s=10,
        acquire_time=dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
        renew_time=dt.datetime(2026, 1, 2, 3, 4, 6, tzinfo=dt.UTC),
        transitions=4,
        resource_version="17",
    )
    manifest = lease_manifest("ops", "modelserve-operator", record)
    assert manifest["spec"]["acquireTime"] == "2026-01-02T03:04:05.678901Z"
    assert manifest["metadata"]["resourceVersion"] == "17"
    assert record_from_lease(manifest) == record


def test_a_standby_waits_until_it_leads_or_is_stopped():
    clock, api = FakeClock(), FakeLeaseApi()
    holder, waiting = candidates(clock, api, "holder", "waiting")
    holder.try_acquire_or_renew()
    stop = threading.Event()

    class Tick(threading.Event):
        """A stop event whose wait advances the fake clock instead of sleeping."""

        def wait(self, timeout: float | None = None) -> bool:
            clock.advance(timeout or 0)
            return self.is_set()

    tick = Tick()
    assert Leadership(waiting).wait_until_leading(tick)
    assert api.lease.holder == "waiting"
    assert clock.now - 1000.0 <= TIMING.lease_duration_s + 0.1  # no whole extra period
    stop.set()
    assert not Leadership(holder).wait_until_leading(stop)
