"""The process around the election: settings from the environment, a standby's liveness."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from modelserve_operator.settings import OperatorSettings
from modelserve_operator.standby import STALE_AFTER_S, StandbyHealth


def test_election_is_off_unless_asked_and_reads_its_timing_from_the_environment():
    assert not OperatorSettings.from_env({}).leader_election.enabled
    election = OperatorSettings.from_env(
        {
            "MODELSERVE_LEADER_ELECTION": "true",
            "MODELSERVE_LEASE_NAME": "ms-modelserve-leader",
            "MODELSERVE_LEASE_NAMESPACE": "ops",
            "MODELSERVE_POD_NAME": "ms-modelserve-abc",
            "MODELSERVE_LEASE_DURATION_SECONDS": "15",
            "MODELSERVE_LEASE_RENEW_DEADLINE_SECONDS": "10",
            "MODELSERVE_LEASE_RETRY_PERIOD_SECONDS": "2",
        }
    ).leader_election
    assert election.enabled and election.lease_namespace == "ops"
    assert election.lease_name == "ms-modelserve-leader"
    assert (election.timing.lease_duration_s, election.timing.renew_deadline_s) == (15, 10)
    # Unique per process: a restarted container waits for its predecessor's lease.
    assert election.identity.startswith("ms-modelserve-abc_")
    again = OperatorSettings.from_env(
        {
            "MODELSERVE_LEADER_ELECTION": "true",
            "MODELSERVE_LEASE_NAMESPACE": "ops",
            "MODELSERVE_POD_NAME": "ms-modelserve-abc",
        }
    )
    assert again.leader_election.identity != election.identity


def test_timing_that_could_outlive_the_lease_is_refused():
    with pytest.raises(ValueError, match="renew deadline < lease duration"):
        OperatorSettings.from_env(
            {
                "MODELSERVE_LEADER_ELECTION": "true",
                "MODELSERVE_LEASE_NAMESPACE": "ops",
                "MODELSERVE_LEASE_RENEW_DEADLINE_SECONDS": "12",
            }
        )


def test_a_standby_is_alive_while_its_election_loop_runs():
    now = [100.0]
    health = StandbyHealth("127.0.0.1", 0, lambda: 99.0, lambda: "pod-a_1234", clock=lambda: now[0])
    health.start()
    url = f"http://127.0.0.1:{health.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read()) == {
                "role": "standby",
                "leader": "pod-a_1234",
                "alive": True,
            }
        now[0] = 99.0 + STALE_AFTER_S + 1  # the loop is wedged
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(url, timeout=5)
        assert failed.value.code == 500
    finally:
        health.stop()
