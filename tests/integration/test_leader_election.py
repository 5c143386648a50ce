"""Two in-process electors against the real Lease API: one leads, takeover, a partitioned leader.

The timing is shortened (lease 4 s, renew deadline 2.5 s, retry 0.5 s) to keep the test
short; the logic is the same as with the defaults. Times are printed, never asserted:
what is asserted is the order of events.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from modelserve_operator.election import ElectionTiming, LeaderElector, LeaseRecord
from modelserve_operator.kube import Kube, NotLeader
from modelserve_operator.leadership import Leadership
from modelserve_operator.lease_store import KubeLeaseStore

TIMING = ElectionTiming(lease_duration_s=4, renew_deadline_s=2.5, retry_period_s=0.5)
LEASE = "modelserve-operator"


class BlackHole:
    """A loopback port that accepts connections and never answers: a partition."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.accepted: list[socket.socket] = []
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self.accepted:
            conn.close()


class PartitionableStore(KubeLeaseStore):
    """The Lease through the real API server, until cut(): then every request hangs."""

    def __init__(self, kube: Kube, cut_off: Kube, namespace: str) -> None:
        super().__init__(kube, namespace, LEASE)
        self._cut_off = cut_off

    def cut(self) -> None:
        self.kube = self._cut_off


def lease_kube(cluster, host: str | None = None) -> Kube:
    connection = cluster.connection()
    if host is not None:
        connection.api_client.configuration.host = host
    return Kube(connection, timeout=(TIMING.retry_period_s, TIMING.renew_deadline_s / 2))


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


def elector(cluster, namespace: str, name: str, black_hole: BlackHole) -> LeaderElector:
    store = PartitionableStore(
        lease_kube(cluster), lease_kube(cluster, f"https://127.0.0.1:{black_hole.port}"), namespace
    )
    return LeaderElector(store, name, TIMING)


def run_candidate(leadership: Leadership, stop: threading.Event, led: dict[str, float]) -> None:
    if leadership.wait_until_leading(stop):
        led[leadership.elector.identity] = time.monotonic()
        leadership.start()


def lease(cluster, namespace: str) -> LeaseRecord | None:
    return KubeLeaseStore(lease_kube(cluster), namespace, LEASE).get()


def test_one_leads_and_the_other_takes_over_when_it_stops_renewing(cluster, namespace, black_hole):
    lost: list[str] = []
    a = Leadership(elector(cluster, namespace, "a", black_hole), on_lost=lost.append)
    b = Leadership(elector(cluster, namespace, "b", black_hole), on_lost=lost.append)
    stop, led = threading.Event(), {}
    threads = [threading.Thread(target=run_candidate, args=(x, stop, led)) for x in (a, b)]
    try:
        for thread in threads:
            thread.start()
        first = cluster.wait_for(lambda: list(led), "a leader", timeout=30)
        # Several renewals later there is still exactly one.
        time.sleep(TIMING.lease_duration_s)
        assert list(led) == first and len(first) == 1
        leader, standby = (a, b) if first == ["a"] else (b, a)
        record = lease(cluster, namespace)
        assert record is not None and record.holder == first[0]
        assert leader.elector.leading() and not standby.elector.leading()

        # The leader stops renewing (a crash: no release). The standby takes over.
        stopped = time.monotonic()
        leader.stop(release=False)
        cluster.wait_for(lambda: standby.elector.identity in led, "the takeover", timeout=30)
        took = led[standby.elector.identity] - stopped
        print(
            f"\ntakeover {took:.2f} s after the leader stopped (lease {TIMING.lease_duration_s} s)"
        )
        record = lease(cluster, namespace)
        assert record.holder == standby.elector.identity and record.transitions == 1
        assert not lost
    finally:
        stop.set()
        a.stop(release=False)
        b.stop(release=False)
        for thread in threads:
            thread.join(timeout=10)


def test_a_leader_cut_off_from_the_api_server_stops_before_its_lease_ends(
    cluster, namespace, black_hole
):
    events: list[tuple[str, float]] = []
    lost = threading.Event()

    def on_lost(reason: str) -> None:
        events.append(("leader stopped: " + reason, time.monotonic()))
        lost.set()

    leader_elector = elector(cluster, namespace, "leader", black_hole)
    leader = Leadership(leader_elector, on_lost=on_lost)
    standby = Leadership(elector(cluster, namespace, "standby", black_hole), on_lost=on_lost)
    stop = threading.Event()
    assert leader.wait_until_leading(stop)
    leader.start()
    # A write fenced by the leader's lease, as the operator's reconcilers make them.
    fenced = Kube(cluster.connection(), fence=leader_elector.time_left)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "fenced", "namespace": namespace},
    }
    assert fenced.create(config_map) is not None

    def stand_by() -> None:
        if standby.wait_until_leading(stop):
            events.append(("standby leads", time.monotonic()))

    watcher = threading.Thread(target=stand_by)
    watcher.start()
    try:
        time.sleep(2 * TIMING.retry_period_s)  # the standby has seen the lease renewed
        cut = time.monotonic()
        leader_elector.store.cut()
        assert lost.wait(30), "the partitioned leader did not stop"
        watcher.join(timeout=30)
        names = [name for name, _ in events]
        assert names[0].startswith("leader stopped") and "renew deadline" in names[0]
        assert names[1] == "standby leads", names
        # Nothing the old leader writes after it stopped reaches the API server.
        with pytest.raises(NotLeader):
            fenced.create({**config_map, "metadata": {**config_map["metadata"], "name": "late"}})
        stopped_after, took_over_after = (at - cut for _, at in events[:2])
        print(
            f"\npartitioned leader stopped {stopped_after:.2f} s after the cut; the standby "
            f"led {took_over_after:.2f} s after it (renew deadline {TIMING.renew_deadline_s} s, "
            f"lease {TIMING.lease_duration_s} s)"
        )
        assert lease(cluster, namespace).holder == "standby"
    finally:
        stop.set()
        leader.stop(release=False)
        watcher.join(timeout=10)
