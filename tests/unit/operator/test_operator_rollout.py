"""The progressive rollout's state machine (operator/modelserve_operator/rollout.py), no cluster.

A small simulation plays the reconciler: it feeds each decision's record back as the next
status.rollout and the decided split back as status.traffic, and serves counters that grow
as the test says the pods answered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from modelserve_api.rollout import RolloutPolicy
from modelserve_operator.rollout import (
    RolloutView,
    blend,
    counters_since,
    decide,
    p99_ms,
    target_hash,
)
from pydantic import ValidationError

BOUNDS = [5.0, 10.0, 50.0, 100.0, 1000.0]
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
BLUE = {"name": "blue", "model": {"name": "iris", "version": "1"}}
GREEN = {"name": "green", "model": {"name": "iris", "version": "2"}}


class Pods:
    """Cumulative GET /monitoring/requests counters of one pod per deployment."""

    def __init__(self) -> None:
        self.counters: dict[str, dict[str, Any]] = {}
        self.reads = 0
        self.broken = False

    def serve(self, deployment: str, calls: int, errors: int = 0, bucket: int = 0) -> None:
        """`calls` more answered, `errors` of them 5xx, all in latency bucket `bucket`."""
        entry = self.counters.setdefault(
            deployment,
            {
                "answered": 0,
                "serverErrors": 0,
                "latencyBucketsMs": BOUNDS,
                "latencyCounts": [0] * 6,
            },
        )
        entry["answered"] += calls
        entry["serverErrors"] += errors
        entry["latencyCounts"] = list(entry["latencyCounts"])
        entry["latencyCounts"][bucket] += calls

    def read(self, names: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        self.reads += 1
        if self.broken:
            raise RuntimeError("pod proxy timed out")
        return {n: {f"{n}-pod": dict(self.counters.get(n) or {})} for n in names}


class Sim:
    """status.rollout and status.traffic carried from one reconcile to the next."""

    def __init__(self, policy: RolloutPolicy, applied: dict[str, int] | None = None) -> None:
        self.policy = policy
        self.record: dict[str, Any] = {}
        self.applied = dict(applied if applied is not None else {"blue": 100})
        self.now = START
        self.pods = Pods()
        self.events: list[tuple[str, str, bool]] = []
        self.control: str | None = None
        self.ready = {"blue": True, "green": True}
        self.last = None
        self.read_shadow = None

    def reconcile(self, target: dict[str, int], green: dict | None = None):
        deployments = {"blue": BLUE, "green": green or GREEN}
        view = RolloutView(
            policy=self.policy,
            target=target,
            target_hash=target_hash(target, deployments),
            generation=1,
            applied=self.applied,
            record=self.record,
            ready=self.ready,
            deployments=frozenset(deployments),
            control=self.control,
            now=self.now,
            read_shadow=self.read_shadow,
        )
        decision = decide(view, self.pods.read)
        self.record = decision.record
        self.applied = decision.traffic  # the routers applied it (observed.py's job)
        self.events += decision.events
        self.last = decision
        return decision

    def later(self, seconds: float | None = None) -> None:
        self.now += dt.timedelta(seconds=seconds or self.policy.interval_seconds)


def canary(**overrides: Any) -> RolloutPolicy:
    return RolloutPolicy.model_validate(
        {"strategy": "canary", "steps": [5, 25, 50, 100], "intervalSeconds": 10, "minCalls": 50}
        | overrides
    )


TO_GREEN = {"green": 100}


def test_blend_moves_a_share_of_the_way_and_always_adds_up_to_100():
    assert blend({"blue": 100}, {"green": 100}, 5) == {"blue": 95, "green": 5}
    assert blend({"blue": 100}, {"green": 100}, 100) == {"green": 100}
    assert blend({"a": 50, "b": 50}, {"a": 34, "b": 33, "c": 33}, 50) == {"a": 42, "b": 42, "c": 16}
    for percent in range(1, 101):
        split = blend({"a": 33, "b": 67}, {"a": 10, "c": 45, "d": 45}, percent)
        assert sum(split.values()) == 100 and all(v > 0 for v in split.values())


def test_the_target_hash_follows_the_split_and_the_deployments_it_moves_to():
    same = target_hash({"green": 100}, {"green": GREEN, "blue": BLUE})
    assert same == target_hash({"green": 100, "blue": 0}, {"green": GREEN, "blue": {"x": 1}})
    new_version = {**GREEN, "model": {"name": "iris", "version": "3"}}
    assert same != target_hash({"green": 100}, {"green": new_version})
    assert same != target_hash({"green": 50, "blue": 50}, {"green": GREEN, "blue": BLUE})


def test_p99_is_read_from_the_histogram_and_a_restarted_pod_counts_in_full():
    before = {"p": {"answered": 100, "serverErrors": 1, "latencyBucketsMs": BOUNDS,
                    "latencyCounts": [100, 0, 0, 0, 0, 0]}}  # fmt: skip
    now = {"p": {"answered": 300, "serverErrors": 1, "latencyBucketsMs": BOUNDS,
                 "latencyCounts": [100, 0, 190, 10, 0, 0]}}  # fmt: skip
    since = counters_since(before, now)
    assert (since.answered, since.server_errors) == (200, 0)
    # rank 198 of 200: inside the 50-100 ms bucket (190 calls below it, 10 in it)
    assert p99_ms(since) == pytest.approx(50 + 50 * 8 / 10)
    restarted = {"p": {"answered": 5, "serverErrors": 0, "latencyBucketsMs": BOUNDS,
                       "latencyCounts": [0, 0, 0, 0, 0, 5]}}  # fmt: skip
    since = counters_since(before, restarted)
    assert since.answered == 5 and p99_ms(since) == 1000.0  # the unbounded bucket: top bound


def test_a_canary_steps_through_every_analysed_step_then_promotes():
    sim = Sim(canary())
    decision = sim.reconcile(TO_GREEN)
    assert decision.traffic == {"blue": 95, "green": 5}
    assert sim.record["phase"] == "Progressing" and sim.record["step"] == 1
    assert [e[0] for e in sim.events] == ["RolloutStarted", "RolloutStep"]
    assert sim.last.healthy[:2] == ("Unknown", "RolloutInProgress")
    # before an interval has passed nothing is read and nothing moves
    reads = sim.pods.reads
    sim.later(3)
    assert sim.reconcile(TO_GREEN).traffic == {"blue": 95, "green": 5}
    assert sim.pods.reads == reads
    splits = []
    for _ in range(3):
        sim.pods.serve("green", 60)
        sim.pods.serve("blue", 500)
        sim.later()
        splits.append(sim.reconcile(TO_GREEN).traffic)
    assert splits == [{"blue": 75, "green": 25}, {"blue": 50, "green": 50}, {"green": 100}]
    assert sim.record["phase"] == "Succeeded"
    assert [a["result"] for a in sim.record["analysis"]] == ["Passed"] * 3
    gate = sim.record["analysis"][0]["gates"][0]
    assert gate == {
        "metric": "successRate",
        "threshold": ">= 0.99",
        "measured": 1.0,
        "passed": True,
    }
    assert sim.last.healthy[0] == "True" and sim.events[-1][0] == "RolloutSucceeded"
    # settled: the same spec keeps the target and reads nothing more
    reads = sim.pods.reads
    sim.later()
    assert sim.reconcile(TO_GREEN).traffic == {"green": 100} and sim.pods.reads == reads


def test_a_step_waits_for_min_calls_without_counting_a_failure():
    sim = Sim(canary())
    sim.reconcile(TO_GREEN)
    sim.pods.serve("green", 10)
    sim.later()
    decision = sim.reconcile(TO_GREEN)
    assert decision.traffic == {"blue": 95, "green": 5}
    assert sim.record["analysis"][-1]["result"] == "TooFewCalls"
    assert sim.record["failedChecks"] == 0
    assert "10 of the 50 calls" in sim.record["message"]


def test_failed_gates_beyond_the_tolerance_send_traffic_back_and_are_not_retried():
    sim = Sim(canary(failedChecksTolerated=1))
    sim.reconcile(TO_GREEN)
    sim.pods.serve("green", 100, errors=5)
    sim.later()
    assert sim.reconcile(TO_GREEN).traffic == {"blue": 95, "green": 5}  # tolerated
    assert sim.record["failedChecks"] == 1 and sim.events[-1][0] == "RolloutCheckFailed"
    sim.pods.serve("green", 100, errors=5)
    sim.later()
    decision = sim.reconcile(TO_GREEN)
    assert decision.traffic == {"blue": 100}
    assert sim.record["phase"] == "RolledBack"
    message = sim.record["rolledBack"]["message"]
    assert "successRate measured 0.95" in message and ">= 0.99" in message
    status, reason, condition_message = decision.healthy
    assert (status, reason) == ("False", "GateFailed") and "successRate" in condition_message
    assert sim.events[-1][0] == "RolloutRolledBack" and sim.events[-1][2] is True
    # the same target stays refused, whatever the pods do now
    sim.pods.serve("green", 1000)
    for _ in range(3):
        sim.later()
        assert sim.reconcile(TO_GREEN).traffic == {"blue": 100}
    # a new version of green in the spec is a new target: tried again from the stable split
    fixed = {**GREEN, "model": {"name": "iris", "version": "3"}}
    assert sim.reconcile(TO_GREEN, green=fixed).traffic == {"blue": 95, "green": 5}
    assert sim.record["phase"] == "Progressing" and sim.record["rolledBack"]


def test_the_p99_gate_rolls_back_a_slow_version_against_ms_and_against_stable():
    policy = canary(
        failedChecksTolerated=0,
        gates=[{"metric": "latencyP99", "maxMs": 250, "maxRatioToStable": 1.5}],
    )
    sim = Sim(policy)
    sim.reconcile(TO_GREEN)
    sim.pods.serve("green", 100, bucket=2)  # 10-50 ms
    sim.pods.serve("blue", 1000, bucket=1)  # 5-10 ms: green is 5x slower than stable
    sim.later()
    assert sim.reconcile(TO_GREEN).traffic == {"blue": 100}
    gate = sim.record["analysis"][-1]["gates"][0]
    assert gate["passed"] is False and gate["measured"] == pytest.approx(49.6)
    assert "x stable p99" in gate["threshold"]


def test_an_agreement_gate_holds_the_step_and_never_passes_unmeasured():
    sim = Sim(
        canary(gates=[{"metric": "successRate", "min": 0.9}, {"metric": "agreement", "min": 0.99}])
    )
    sim.reconcile(TO_GREEN)
    for _ in range(5):
        sim.pods.serve("green", 100)
        sim.later()
        assert sim.reconcile(TO_GREEN).traffic == {"blue": 95, "green": 5}
    assert sim.record["analysis"][-1]["result"] == "NotMeasurable"
    assert "agreement: agreement is measured on mirrored requests" in sim.record["message"]
    assert sim.record["failedChecks"] == 0


class ShadowCollector:
    """The cumulative GET /shadow counters of an endpoint's collector."""

    def __init__(self) -> None:
        self.figures = {"pairedRequests": 0, "pairedRows": 0, "agreeingRows": 0}
        self.broken = False

    def pair(self, requests: int, rows: int, agreeing: int) -> None:
        for key, more in zip(self.figures, (requests, rows, agreeing), strict=True):
            self.figures[key] += more

    def read(self) -> dict[str, Any]:
        if self.broken:
            raise RuntimeError("service proxy timed out")
        return {"task": "classification", "candidates": {"green": dict(self.figures)}}


def blue_green_with_agreement(minimum: float) -> RolloutPolicy:
    return RolloutPolicy.model_validate(
        {
            "strategy": "blueGreen",
            "intervalSeconds": 10,
            "minCalls": 20,
            "gates": [{"metric": "agreement", "min": minimum}],
        }
    )


def shadowed_sim(minimum: float) -> tuple[Sim, ShadowCollector]:
    """A blue-green rollout with an agreement gate, reading this collector."""
    sim = Sim(blue_green_with_agreement(minimum))
    collector = ShadowCollector()
    sim.read_shadow = collector.read
    return sim, collector


def test_the_agreement_gate_passes_on_the_mirrored_answers_paired_in_the_step():
    sim, collector = shadowed_sim(0.95)
    collector.pair(500, 5000, 4000)  # an earlier rollout's pairs do not count
    sim.reconcile(TO_GREEN)
    assert sim.record["stepShadow"] == {
        "green": {"pairedRequests": 500, "pairedRows": 5000, "agreeingRows": 4000}
    }
    sim.pods.serve("green", 40)
    collector.pair(40, 400, 392)
    sim.later()

    decision = sim.reconcile(TO_GREEN)

    assert decision.traffic == {"green": 100}
    (gate,) = sim.record["analysis"][-1]["gates"]
    assert gate == {
        "metric": "agreement",
        "threshold": ">= 0.95",
        "measured": 0.98,
        "passed": True,
        "calls": 40,
    }


def test_a_candidate_that_disagrees_is_rolled_back_with_the_figures_in_status():
    sim, collector = shadowed_sim(0.95)
    sim.reconcile(TO_GREEN)
    for _ in range(3):
        sim.pods.serve("green", 40)
        collector.pair(40, 400, 360)  # one row in ten flipped
        sim.later()
        decision = sim.reconcile(TO_GREEN)

    assert decision.traffic == {"blue": 100}
    assert sim.record["phase"] == "RolledBack"
    assert "agreement measured 0.9" in sim.record["rolledBack"]["message"]
    assert sim.record["analysis"][-1]["gates"][0]["passed"] is False


def test_the_agreement_gate_waits_for_min_calls_pairs_not_just_min_calls_answers():
    sim, collector = shadowed_sim(0.95)
    sim.reconcile(TO_GREEN)
    sim.pods.serve("green", 40)
    collector.pair(5, 5, 5)  # the answers are slow to reach the collector: 5 pairs so far
    sim.later()

    decision = sim.reconcile(TO_GREEN)

    assert decision.traffic == {"blue": 100} and decision.mirror == ("green", 50)
    (gate,) = sim.record["analysis"][-1]["gates"]
    assert "passed" not in gate and gate["calls"] == 5, gate
    assert "5 of the 20 paired mirrored requests" in sim.record["message"]
    collector.pair(15, 15, 15)
    sim.pods.serve("green", 20)
    sim.later()
    assert sim.reconcile(TO_GREEN).traffic == {"green": 100}


def test_an_unreadable_collector_holds_the_agreement_gate_without_failing_it():
    sim, collector = shadowed_sim(0.95)
    collector.broken = True
    sim.reconcile(TO_GREEN)
    sim.pods.serve("green", 40)
    sim.later()

    decision = sim.reconcile(TO_GREEN)

    assert decision.mirror == ("green", 50)
    assert sim.record["analysis"][-1]["result"] == "NotMeasurable"
    assert "shadow collector could not be read" in sim.record["message"]
    assert sim.record["failedChecks"] == 0
    # once readable, the first analysis takes the baseline, the next one judges
    collector.broken = False
    sim.pods.serve("green", 40)
    sim.later()
    sim.reconcile(TO_GREEN)
    assert "counting starts now" in sim.record["message"]
    collector.pair(30, 30, 30)
    sim.pods.serve("green", 40)
    sim.later()
    assert sim.reconcile(TO_GREEN).traffic == {"green": 100}


def test_unreadable_pods_count_as_failed_checks():
    sim = Sim(canary(failedChecksTolerated=0))
    sim.reconcile(TO_GREEN)
    sim.pods.broken = True
    sim.later()
    assert sim.reconcile(TO_GREEN).traffic == {"blue": 100}
    assert "pod proxy timed out" in sim.record["rolledBack"]["message"]


def test_pause_holds_resume_continues_and_controls_act_once_when_they_change():
    sim = Sim(canary())
    sim.reconcile(TO_GREEN)
    sim.control = "pause"
    sim.pods.serve("green", 100)
    sim.later()
    assert sim.reconcile(TO_GREEN).traffic == {"blue": 95, "green": 5}
    assert sim.record["phase"] == "Paused"
    sim.control = "resume"
    sim.later()
    assert sim.reconcile(TO_GREEN).traffic == {"blue": 75, "green": 25}
    sim.control = "promote"
    assert sim.reconcile(TO_GREEN).traffic == {"green": 100}
    assert "annotation" in sim.record["message"]
    # the annotation stays set: the next rollout is not promoted by it
    back = {"blue": 100}
    sim.reconcile(back)  # the spec goes back to blue: a rollout of its own
    assert sim.applied == {"blue": 5, "green": 95}
    sim.control = "abort"
    assert sim.reconcile(back).traffic == {"green": 100}
    assert sim.record["phase"] == "Aborted" and sim.record["rolledBack"]["reason"] == "Aborted"


def test_on_success_pause_waits_for_the_promote_annotation():
    sim = Sim(canary(steps=[50, 100], onSuccess="pause"))
    sim.reconcile(TO_GREEN)
    sim.pods.serve("green", 100)
    sim.later()
    assert sim.reconcile(TO_GREEN).traffic == {"blue": 50, "green": 50}
    assert sim.record["phase"] == "AwaitingPromotion"
    sim.later()
    assert sim.reconcile(TO_GREEN).traffic == {"blue": 50, "green": 50}
    sim.control = "promote"
    assert sim.reconcile(TO_GREEN).traffic == {"green": 100}
    assert sim.record["phase"] == "Succeeded"


def test_blue_green_mirrors_first_then_switches_at_once():
    sim = Sim(RolloutPolicy.model_validate({"strategy": "blueGreen", "intervalSeconds": 10,
                                            "minCalls": 20, "mirrorPercent": 30}))  # fmt: skip
    decision = sim.reconcile(TO_GREEN)
    assert decision.traffic == {"blue": 100} and decision.mirror == ("green", 30)
    sim.pods.serve("green", 40)  # mirrored copies
    sim.later()
    decision = sim.reconcile(TO_GREEN)
    assert decision.traffic == {"green": 100} and decision.mirror is None


def test_no_stable_split_or_strategy_immediate_applies_the_target_at_once():
    sim = Sim(canary(), applied={})
    assert sim.reconcile({"blue": 100}).traffic == {"blue": 100}
    assert sim.record["phase"] == "Succeeded" and sim.pods.reads == 0
    sim = Sim(canary(strategy="immediate"))
    assert sim.reconcile(TO_GREEN).traffic == {"green": 100}


def test_a_step_waits_for_the_new_deployment_to_be_ready():
    sim = Sim(canary())
    sim.ready["green"] = False
    assert sim.reconcile(TO_GREEN).traffic == {"blue": 100}
    assert sim.record["step"] == 0 and "green to be Ready" in sim.record["message"]
    sim.ready["green"] = True
    assert sim.reconcile(TO_GREEN).traffic == {"blue": 95, "green": 5}


def test_a_restarted_operator_resumes_at_the_recorded_step():
    sim = Sim(canary())
    sim.reconcile(TO_GREEN)
    sim.pods.serve("green", 60)
    sim.later()
    sim.reconcile(TO_GREEN)
    assert sim.record["step"] == 2
    # a new process knows only status: the same record and split give the same step
    restarted = Sim(canary())
    restarted.record, restarted.applied, restarted.now = sim.record, sim.applied, sim.now
    restarted.pods = sim.pods
    assert restarted.reconcile(TO_GREEN).traffic == {"blue": 75, "green": 25}
    assert restarted.record["step"] == 2 and not restarted.events


def test_the_policy_refuses_thresholds_that_do_not_fit_the_gate():
    with pytest.raises(ValidationError, match="latencyP99 gate takes maxMs"):
        RolloutPolicy.model_validate({"gates": [{"metric": "latencyP99", "min": 0.5}]})
    with pytest.raises(ValidationError, match="successRate gate takes min"):
        RolloutPolicy.model_validate({"gates": [{"metric": "successRate", "maxMs": 5}]})
    with pytest.raises(ValidationError, match="must rise"):
        RolloutPolicy.model_validate({"steps": [50, 25, 100]})
    with pytest.raises(ValidationError, match="last canary step must be 100"):
        RolloutPolicy.model_validate({"steps": [5, 25]})
    assert RolloutPolicy().gates[0].min == 0.99
