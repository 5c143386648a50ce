"""A model changed in place under spec.rollout (version_change.py and the hand-over in
rollout.py), no cluster: which deployments are in a change, the candidate's name, and the
phase after the promotion that gives the share back to the deployment."""

from __future__ import annotations

import datetime as dt

from modelserve_api import constants as c
from modelserve_api.rollout import RolloutPolicy
from modelserve_operator.rollout import HANDING_OVER, RolloutView, decide, target_hash
from modelserve_operator.version_change import (
    ServedModel,
    candidate_name,
    plan_change,
    served_model,
)

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
V1, V2 = "a" * 64, "b" * 64


def scoring(version: str, sha256: str) -> dict:
    """A scoring Deployment as builders/scoring.py makes it (the parts that name the model)."""
    return {
        "spec": {
            "template": {
                "metadata": {
                    "labels": {c.LABEL_MODEL_NAME: "iris", c.LABEL_MODEL_VERSION: version}
                },
                "spec": {
                    "containers": [
                        {
                            "name": "scoring",
                            "env": [
                                {"name": "MODELSERVE_MODEL_NAME", "value": "iris"},
                                {"name": "MODELSERVE_ARTIFACT_SHA256", "value": sha256},
                            ],
                        }
                    ]
                },
            }
        }
    }


def test_the_served_model_is_read_from_the_template_labels_and_the_digest():
    assert served_model(scoring("2", V2)) == ServedModel("iris", "2", V2)
    assert served_model(None) is None
    assert served_model({"spec": {"template": {}}}) is None


def test_a_change_starts_only_for_a_deployment_serving_callers_another_model():
    live, wanted = scoring("1", V1), scoring("2", V2)
    change = plan_change("main", live, wanted, True, {}, {"main"})
    assert change is not None
    assert (change.candidate, change.serving.version, change.wanted.version) == (
        "main-next",
        "1",
        "2",
    )
    assert change.status() == {
        "deployment": "main",
        "candidate": "main-next",
        "fromVersion": "1",
        "toVersion": "2",
        "toSha256": V2,
    }
    # the same model: nothing to step; no callers: the Deployment simply rolls
    assert plan_change("main", wanted, wanted, True, {}, {"main"}) is None
    assert plan_change("main", live, wanted, False, {}, {"main"}) is None
    # only the artifact behind the same Model version moved (an MLflow alias): a change
    moved = plan_change("main", scoring("2", V1), wanted, True, {}, {"main"}, "7")
    assert moved is not None and moved.status()["toRegistryVersion"] == "7"


def test_a_change_in_progress_keeps_its_candidate_and_lasts_through_the_hand_over():
    record = {
        "phase": "Progressing",
        "versionChanges": [{"deployment": "main", "candidate": "main-next3", "toSha256": V1}],
    }
    change = plan_change("main", scoring("1", V1), scoring("2", V2), True, record, {"main"})
    assert change is not None and change.candidate == "main-next3"
    # promoted: the deployment already runs the new model, the change lasts until hand-over
    record = {
        "phase": HANDING_OVER,
        "versionChanges": [
            {"deployment": "main", "candidate": "main-next", "fromVersion": "1", "toSha256": V2}
        ],
    }
    change = plan_change("main", scoring("2", V2), scoring("2", V2), False, record, {"main"})
    assert change is not None and change.serving.version == "1"
    # the spec moved on to yet another model meanwhile: not that hand-over any more
    assert plan_change("main", scoring("2", V2), scoring("2", V2), False, {}, {"main"}) is None


def test_the_candidate_name_is_a_short_unused_deployment_name():
    assert candidate_name("main", {"main"}) == "main-next"
    assert candidate_name("main", {"main", "main-next"}) == "main-next2"
    long = "a" * (c.MAX_DEPLOYMENT_NAME - 1) + "b"
    name = candidate_name(long, {long})
    assert len(name) <= c.MAX_DEPLOYMENT_NAME and name.endswith("-next")


CHANGE = {
    "deployment": "main",
    "candidate": "main-next",
    "fromVersion": "1",
    "toVersion": "2",
    "toSha256": V2,
}
MAIN = {"name": "main", "model": {"name": "iris", "version": "2"}}
CANDIDATE = {**MAIN, "name": "main-next", "sha256": V2}


def view(
    record: dict, applied: dict, handed_over: frozenset[str] = frozenset(), **kw
) -> RolloutView:
    target = {"main-next": 100}
    return RolloutView(
        policy=RolloutPolicy.model_validate(
            {"steps": [50, 100], "intervalSeconds": 10, "minCalls": 10}
        ),
        target=target,
        target_hash=target_hash(target, {"main": MAIN, "main-next": CANDIDATE}),
        generation=2,
        applied=applied,
        record=record,
        ready={"main": True, "main-next": True},
        deployments=frozenset({"main"}),
        control=None,
        now=kw.get("now", START),
        version_changes=(CHANGE,),
        handed_over=handed_over,
        final_hash=target_hash({"main": 100}, {"main": MAIN}),
    )


class Pods:
    """Counters that grow by 100 answered calls (`errors` of them 5xx) at every read."""

    def __init__(self, errors: int = 0) -> None:
        self.answered = self.failed = 0
        self.errors = errors

    def __call__(self, names: list[str]) -> dict:
        self.answered += 100
        self.failed += self.errors
        counters = {"answered": self.answered, "serverErrors": self.failed}
        return {n: {f"{n}-pod": dict(counters)} for n in names}


reads = Pods()


def test_a_promoted_change_hands_the_share_back_once_the_deployment_runs_the_new_model():
    first = decide(view({}, {"main": 100}), reads)
    assert first.traffic == {"main": 50, "main-next": 50}
    assert first.record["versionChanges"] == [CHANGE]
    later = START + dt.timedelta(seconds=11)
    promoted = decide(view(first.record, first.traffic, now=later), reads)
    # the candidate serves everything while the deployment's own pods take the new model
    assert promoted.record["phase"] == HANDING_OVER and promoted.traffic == {"main-next": 100}
    assert promoted.healthy is not None and promoted.healthy[1] == "Promoted"
    assert "main takes version 2 over from main-next" in promoted.record["message"]
    waiting = decide(view(promoted.record, promoted.traffic, now=later), reads)
    assert waiting.traffic == {"main-next": 100} and waiting.record["phase"] == HANDING_OVER
    assert "waiting for main-next" in waiting.record["message"]
    done = decide(view(waiting.record, waiting.traffic, frozenset({"main-next"})), reads)
    assert done.traffic == {"main": 100}
    assert done.record["phase"] == "Succeeded"
    assert done.record["target"] == {"main": 100}
    # the record now names the spec's own target: the next reconcile, without the change,
    # is settled and starts no rollout
    assert done.record["targetHash"] == target_hash({"main": 100}, {"main": MAIN})
    assert [e[0] for e in done.events] == ["RolloutHandedOver"]


def test_a_failed_change_rolls_back_to_the_deployment_and_stays_there():
    failing = Pods(errors=50)
    record = decide(view({}, {"main": 100}), failing).record
    for step in range(1, 3):
        now = START + dt.timedelta(seconds=11 * step)
        record = decide(view(record, {"main": 50, "main-next": 50}, now=now), failing).record
    assert record["phase"] == "RolledBack" and record["traffic"] == {"main": 100}
    again = decide(view(record, {"main": 100}), reads)
    assert again.traffic == {"main": 100} and again.record["phase"] == "RolledBack"


def test_a_spec_change_while_handing_over_is_stepped_from_what_callers_get():
    first = decide(view({}, {"main": 100}), reads)
    later = START + dt.timedelta(seconds=11)
    promoted = decide(view(first.record, first.traffic, now=later), reads)
    assert promoted.record["phase"] == HANDING_OVER
    # meanwhile the spec adds a deployment with a share: a new target, to be stepped, and the
    # candidate (named in status only, never in the spec) has not "left the spec"
    blue = {"name": "blue", "model": {"name": "iris", "version": "2"}}
    target = {"main-next": 80, "blue": 20}
    changed = RolloutView(
        policy=RolloutPolicy.model_validate(
            {"steps": [50, 100], "intervalSeconds": 10, "minCalls": 10}
        ),
        target=target,
        target_hash=target_hash(target, {"main-next": CANDIDATE, "blue": blue}),
        generation=3,
        applied=promoted.traffic,
        record=promoted.record,
        ready={"main": True, "main-next": True, "blue": True},
        deployments=frozenset({"main", "blue"}),
        control=None,
        now=later,
        version_changes=(CHANGE,),
        handed_over=frozenset(),
        final_hash=target_hash({"main": 80, "blue": 20}, {"main": MAIN, "blue": blue}),
    )
    started = decide(changed, reads)
    assert started.record["phase"] == "Progressing", started.record["message"]
    assert started.record["stable"] == {"main-next": 100}
    # blue's share comes in steps; the rest stays on the candidate, which serves the new model
    assert started.traffic == {"main-next": 90, "blue": 10}
    assert started.record["versionChanges"] == [CHANGE]
