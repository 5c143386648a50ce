"""spec.monitoring on the real control plane: validation, crossings, retraining, auto promotion.

The scoring pods run on simulated (KWOK) nodes and cannot answer GET /monitoring, so the
in-process operator reads the verdicts and call counts through its seams
(`fetch_monitoring`, `fetch_call_counts`) from a table the test controls; everything
else (Models, status, Events, pods becoming Ready) is the real API server.
tests/e2e/test_lifecycle_e2e.py runs the loop with real scoring pods.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from cluster_objects import condition, get, spec_managers
from modelserve_client.artifacts import configmap_registration

TEMPLATE = {
    "task": "classification",
    "data": {"dataset": "iris"},
    "estimator": {"className": "sklearn.linear_model.LogisticRegression"},
    "gate": "accuracy >= 0.8",
}
INTERVAL_S = 10


class Answers:
    """What each deployment's scoring pod 'answers' on GET /monitoring."""

    def __init__(self) -> None:
        self.by_deployment: dict[str, dict[str, Any]] = {}
        self.asked: list[str] = []
        # GET /monitoring/requests of each deployment's one pod: a steady trickle of calls
        # (10 more at each read) of which `server_errors` answered with a 5xx.
        self.answered: dict[str, int] = {}
        self.server_errors: dict[str, int] = {}

    def calls(self, namespace: str, endpoint: str, deployment: str) -> dict[str, dict[str, int]]:
        self.answered[deployment] = self.answered.get(deployment, 0) + 10
        counts = {
            "answered": self.answered[deployment],
            "serverErrors": self.server_errors.get(deployment, 0),
        }
        return {f"{endpoint}-{deployment}-pod": counts}

    def set(self, deployment: str, accuracy: float | None, rows: int = 300) -> None:
        self.by_deployment[deployment] = {
            "deployment": deployment,
            "model": {"name": "iris", "version": "?"},
            "rows": rows,
            "baseline": False,
            "features": [],
            "performance": {
                "task": "classification",
                "feedbackRows": rows if accuracy is not None else 0,
                "accuracy": accuracy,
                "mae": None,
                "rmse": None,
            },
        }

    def __call__(self, namespace: str, endpoint: str, deployment: str) -> dict[str, Any]:
        self.asked.append(deployment)
        if deployment not in self.by_deployment:
            raise RuntimeError(f"no answer for {deployment}")
        return self.by_deployment[deployment]


@pytest.fixture
def answers(operator_factory, namespace, monkeypatch) -> Iterator[Answers]:
    running = operator_factory(namespace, monkeypatch, {"MODELSERVE_NODE_SELECTOR": "type=kwok"})
    running.start()
    from modelserve_operator.handlers.state import state

    table = Answers()
    state().endpoints.monitor.fetch_monitoring = table
    state().endpoints.rollout.fetch_call_counts = table.calls
    yield table
    running.delete_objects_and_stop()


def apply(cluster, namespace: str, *documents: dict) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump_all(documents))


def endpoint_once_rolled_back(cluster, namespace: str, what: str) -> dict:
    """The endpoint `iris` as read once its promotion reports RolledBack."""
    return cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and e["status"]["monitoring"]["retrain"].get("state") == "RolledBack"
            and e
        ),
        what,
        timeout=60,
    )


def events(cluster, namespace: str, name: str) -> list[dict]:
    listed = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector",
        f"involvedObject.name={name},involvedObject.kind=OnlineEndpoint", "-o", "json",
    )  # fmt: skip
    items = json.loads(listed.stdout)["items"]
    return sorted(items, key=lambda e: (e.get("firstTimestamp") or "", e["metadata"]["name"]))


def configmap_model(artifact: bytes, version: str, labels: dict | None = None, **annotations):
    """Model iris-<version> and its ConfigMap as `modelserve model register` makes them, with
    the extra labels and annotations the operator gives a version it retrained."""
    config_map, model = configmap_registration(artifact, "iris", version)
    model["metadata"]["labels"].update(labels or {})
    model["metadata"]["annotations"] = annotations
    return config_map, model


def endpoint(monitoring: dict) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "iris"},
        "spec": {
            "authMode": "none",
            "deployments": [{"name": "blue", "model": {"name": "iris", "version": "1"}}],
            "traffic": {"blue": 100},
            "monitoring": monitoring,
        },
    }


def submit_dry_run(cluster, namespace: str, body: dict):
    return cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-",
        input_text=json.dumps(body), check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("monitoring", "field", "fragment"),
    [
        ({"intervalSeconds": 5}, "spec.monitoring.intervalSeconds", "greater than or equal to 10"),
        ({"drift": {"method": "chi2"}}, "spec.monitoring.drift.method", "Unsupported value"),
        (
            {"drift": {"method": "ks", "threshold": 1.5}},
            "spec.monitoring.drift.threshold",
            "p-value",
        ),
        (
            {"performance": {"minAccuracy": 0.9, "maxError": 2}},
            "spec.monitoring.performance",
            "not both",
        ),
        ({"performance": {"minAccuracy": 1.5}}, "spec.monitoring.performance.minAccuracy", "1"),
        (
            {"retrain": {"template": TEMPLATE, "steps": [10, 50]}},
            "spec.monitoring.retrain.steps",
            "the last step must be 100",
        ),
        (
            {"retrain": {"template": TEMPLATE, "steps": [50, 10, 100]}},
            "spec.monitoring.retrain.steps",
            "steps must rise",
        ),
        (
            {"retrain": {"template": {**TEMPLATE, "estimator": {"className": "os.system"}}}},
            "spec.monitoring.retrain.template.estimator.className",
            'Unsupported value: "os.system"',
        ),
        (
            {"retrain": {"template": {**TEMPLATE, "gate": "loss >= 1"}}},
            "spec.monitoring.retrain.template",
            "gate",
        ),
        ({"retrain": {"promotion": "auto"}}, "spec.monitoring.retrain.template", "Required"),
    ],
)
def test_api_server_refuses_invalid_monitoring_naming_the_field(
    cluster, crds, namespace, monitoring, field, fragment
):
    refused = submit_dry_run(cluster, namespace, endpoint(monitoring))
    assert refused.returncode != 0, f"accepted: {monitoring}"
    assert field in refused.stderr, refused.stderr
    assert fragment in refused.stderr, refused.stderr


def test_api_server_fills_monitoring_defaults(cluster, crds, namespace):
    body = endpoint({"enabled": True, "drift": {}, "retrain": {"template": TEMPLATE}})
    cluster.kubectl("create", "-n", namespace, "-f", "-", input_text=json.dumps(body))
    stored = get(cluster, namespace, "onlineendpoint", "iris")["spec"]["monitoring"]
    assert stored["intervalSeconds"] == 60
    assert stored["drift"] == {"method": "psi", "minRows": 200}
    assert stored["retrain"]["promotion"] == "manual"
    assert stored["retrain"]["steps"] == [10, 50, 100]
    assert stored["retrain"]["template"]["split"]["seed"] == 42  # the training defaults too


def test_a_crossing_sets_conditions_and_retrains_once_while_the_endpoint_keeps_serving(
    cluster, namespace, bound_claim, answers, iris_artifact
):
    apply(cluster, namespace, *configmap_model(iris_artifact, "1"))
    answers.set("blue", accuracy=0.97)
    monitoring = {
        "enabled": True,
        "intervalSeconds": INTERVAL_S,
        "performance": {"minAccuracy": 0.9, "minFeedbackRows": 100},
        "retrain": {"template": TEMPLATE, "artifactClaimName": bound_claim},
    }
    apply(cluster, namespace, endpoint(monitoring))
    healthy = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and condition(e, "PerformanceDegraded").get("status") == "False"
            and condition(e, "Ready").get("status") == "True"
            and e
        ),
        "the endpoint Ready and a check finding accuracy within the threshold",
        timeout=120,
    )
    assert healthy["status"]["monitoring"]["deployments"][0]["accuracy"] == 0.97

    answers.set("blue", accuracy=0.55)
    crossed = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and condition(e, "PerformanceDegraded").get("status") == "True"
            and e
        ),
        "the accuracy crossing to be reported",
        timeout=60,
    )
    degraded = condition(crossed, "PerformanceDegraded")
    assert degraded["reason"] == "AccuracyBelowThreshold"
    assert "rolling accuracy 0.55 over 300 rows, below 0.9" in degraded["message"]
    # Still serving: the summary conditions did not move.
    assert condition(crossed, "Ready")["status"] == "True"
    assert condition(crossed, "Degraded")["status"] == "False"

    retrained = cluster.wait_for(
        lambda: get(cluster, namespace, "model", "iris-2"), "the retrained Model iris-2"
    )
    assert retrained["spec"]["version"] == "2"
    assert retrained["spec"]["artifact"]["uri"] == "pvc://models/iris/2/model.joblib"
    # The template as the API server keeps it (its defaults filled in).
    template = crossed["spec"]["monitoring"]["retrain"]["template"]
    assert retrained["spec"]["training"]["estimator"] == template["estimator"]
    assert template["estimator"]["className"] == TEMPLATE["estimator"]["className"]
    assert retrained["metadata"]["labels"]["modelserve.io/retrained-for"] == "iris"
    status = get(cluster, namespace, "onlineendpoint", "iris")["status"]["monitoring"]
    assert status["retrain"]["model"] == "iris-2"
    assert status["retrain"]["baseVersion"] == "1"

    # Training on a simulated node ends without the trainer's report: the retrain fails,
    # visibly, and the endpoint still serves version 1.
    failed = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and e["status"]["monitoring"].get("retrain", {}).get("state") == "Failed"
            and e
        ),
        "the failed retrain to be reported",
        timeout=180,
    )
    assert failed["status"]["monitoring"]["retrain"]["message"].startswith(
        "Model iris-2 did not become Ready"
    )
    assert failed["status"]["traffic"] == {"blue": 100}

    # More checks while the crossing lasts, then a recovery and a second crossing: still
    # one retrained version for version 1.
    checks_before = len(answers.asked)
    answers.set("blue", accuracy=0.97)
    cluster.wait_for(
        lambda: (
            condition(get(cluster, namespace, "onlineendpoint", "iris"), "PerformanceDegraded").get(
                "status"
            )
            == "False"
        ),
        "the recovery",
        timeout=60,
    )
    answers.set("blue", accuracy=0.5)
    cluster.wait_for(
        lambda: (
            condition(get(cluster, namespace, "onlineendpoint", "iris"), "PerformanceDegraded").get(
                "status"
            )
            == "True"
        ),
        "the second crossing",
        timeout=60,
    )
    assert len(answers.asked) > checks_before + 1
    models = json.loads(cluster.kubectl("get", "models", "-n", namespace, "-o", "json").stdout)
    assert sorted(m["metadata"]["name"] for m in models["items"]) == ["iris-1", "iris-2"]
    reasons = [e["reason"] for e in events(cluster, namespace, "iris")]
    assert reasons.count("AccuracyBelowThreshold") == 2
    assert reasons.count("WithinThreshold") == 1  # the recovery (the first check was no event)
    assert reasons.count("RetrainStarted") == 1
    assert "RetrainSkipped" in reasons  # the second crossing names the version already made


def start_an_automatic_promotion(cluster, namespace: str, answers: Answers, artifact: bytes):
    """Version 1 serving below its accuracy threshold, version 2 Ready: promotion begins."""
    apply(cluster, namespace, *configmap_model(artifact, "1"))
    # Version 2 registered as the operator registers a retrained one (labels and base
    # version): found again on the crossing, as after an operator restart, and Ready at
    # once because its artifact is in a ConfigMap rather than trained on a simulated node.
    apply(
        cluster,
        namespace,
        *configmap_model(
            artifact,
            "2",
            labels={"modelserve.io/retrained-for": "iris"},
            **{"modelserve.io/retrained-from-version": "1"},
        ),
    )
    cluster.wait_for(
        lambda: (
            condition(get(cluster, namespace, "model", "iris-2"), "Ready").get("status") == "True"
        ),
        "Model iris-2 Ready",
    )
    answers.set("blue", accuracy=0.4)
    answers.set("iris-v2", accuracy=None)
    monitoring = {
        "enabled": True,
        "intervalSeconds": INTERVAL_S,
        "performance": {"minAccuracy": 0.9},
        "retrain": {"template": TEMPLATE, "promotion": "auto", "steps": [50, 100]},
    }
    apply(cluster, namespace, endpoint(monitoring))


def at_first_step(cluster, namespace: str) -> dict:
    return cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and e.get("status", {}).get("traffic") == {"blue": 50, "iris-v2": 50}
            and e
        ),
        "the first promotion step",
        timeout=180,
    )


def test_auto_promotion_steps_the_retrained_version_in_status_and_the_spec_takes_it_over(
    cluster, namespace, answers, iris_artifact
):
    start_an_automatic_promotion(cluster, namespace, answers, iris_artifact)
    managers = spec_managers(cluster, namespace, "onlineendpoint", "iris")
    seen_traffic: list[dict] = []

    def awaiting_commit():
        body = get(cluster, namespace, "onlineendpoint", "iris") or {}
        traffic = body.get("status", {}).get("traffic")
        if traffic and (not seen_traffic or seen_traffic[-1] != traffic):
            seen_traffic.append(traffic)
        retrain = body.get("status", {}).get("monitoring", {}).get("retrain", {})
        return retrain.get("state") == "AwaitingCommit" and traffic == {"iris-v2": 100} and body

    done = cluster.wait_for(awaiting_commit, "the candidate to serve everything", timeout=240)
    assert seen_traffic[0] == {"blue": 100}
    assert {"blue": 50, "iris-v2": 50} in seen_traffic
    # Stepped in status only: the spec is the author's, and no operator manager owns any of it.
    assert done["spec"]["traffic"] == {"blue": 100}
    assert [d["name"] for d in done["spec"]["deployments"]] == ["blue"]
    assert spec_managers(cluster, namespace, "onlineendpoint", "iris") == managers
    rollout = done["status"]["rollout"]
    assert rollout["phase"] == "Succeeded" and rollout["target"] == {"iris-v2": 100}, rollout
    assert all(a["result"] == "Passed" for a in rollout["analysis"]), rollout["analysis"]
    assert condition(done, "Ready")["status"] == "True"
    retrain = done["status"]["monitoring"]["retrain"]
    assert "commit it to the spec" in retrain["message"], retrain
    candidate_uid = get(cluster, namespace, "deployment", "iris-iris-v2")["metadata"]["uid"]

    # The author commits what the operator reports; the candidate's pods carry on.
    committed = endpoint(done["spec"]["monitoring"])
    committed["spec"]["deployments"] = [
        {"name": "iris-v2", "model": {"name": "iris", "version": "2"}}
    ]
    committed["spec"]["traffic"] = {"iris-v2": 100}
    apply(cluster, namespace, committed)
    served = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and e["status"]["monitoring"]["retrain"].get("state") == "Promoted"
            and e["status"].get("traffic") == {"iris-v2": 100}
            and [d["name"] for d in e["status"].get("deployments", [])] == ["iris-v2"]
            and condition(e, "Ready").get("status") == "True"
            and e
        ),
        "iris-v2 named by the spec",
        timeout=90,
    )
    assert served["status"]["deployments"][0]["modelVersion"] == "2", served["status"]
    assert get(cluster, namespace, "deployment", "iris-iris-v2")["metadata"]["uid"] == (
        candidate_uid
    )
    cluster.wait_for(
        lambda: get(cluster, namespace, "deployment", "iris-blue") is None, "iris-blue pruned"
    )
    steps = [
        e["message"] for e in events(cluster, namespace, "iris") if e["reason"] == "RolloutStep"
    ]
    assert len(steps) == 1, steps  # 50 %, then the promotion
    assert "kubectl" not in managers and "modelserve-operator-promotion" not in managers


def test_the_abort_annotation_stops_the_promotion(cluster, namespace, answers, iris_artifact):
    start_an_automatic_promotion(cluster, namespace, answers, iris_artifact)
    at_first_step(cluster, namespace)
    cluster.kubectl(
        "annotate", "onlineendpoint", "iris", "-n", namespace, "modelserve.io/rollout=abort"
    )
    stopped = endpoint_once_rolled_back(cluster, namespace, "the promotion to notice the abort")
    assert "aborted by annotation" in stopped["status"]["monitoring"]["retrain"]["message"]
    cluster.wait_for(
        lambda: (
            get(cluster, namespace, "onlineendpoint", "iris")["status"].get("traffic")
            == {"blue": 100}
        ),
        "the old version to take all traffic again",
    )
    # The candidate is no longer served: its children go; the spec was never touched.
    cluster.wait_for(
        lambda: get(cluster, namespace, "deployment", "iris-iris-v2") is None,
        "the candidate's pods removed",
    )
    after = get(cluster, namespace, "onlineendpoint", "iris")
    assert after["spec"]["traffic"] == {"blue": 100}
    assert [d["name"] for d in after["spec"]["deployments"]] == ["blue"]
    assert "PromotionRolledBack" in {e["reason"] for e in events(cluster, namespace, "iris")}


def test_a_5xx_from_the_new_version_sends_traffic_back_and_stops_the_promotion(
    cluster, namespace, answers, iris_artifact
):
    start_an_automatic_promotion(cluster, namespace, answers, iris_artifact)
    at_first_step(cluster, namespace)
    # Half the traffic reaches version 2, and one of its answers is a 500.
    answers.server_errors["iris-v2"] = 1
    stopped = endpoint_once_rolled_back(cluster, namespace, "the promotion to roll back")
    assert stopped["spec"]["traffic"] == {"blue": 100}
    message = stopped["status"]["monitoring"]["retrain"]["message"]
    assert "successRate measured" in message and "threshold >= 1" in message, message
    cluster.wait_for(
        lambda: get(cluster, namespace, "deployment", "iris-iris-v2") is None,
        "the candidate's pods removed",
    )
    # The rollback stays visible, naming the gate, after the candidate is gone.
    after = get(cluster, namespace, "onlineendpoint", "iris")
    healthy = condition(after, "RolloutHealthy")
    assert healthy.get("status") == "False" and healthy["reason"] == "GateFailed", healthy
    assert after["status"]["rollout"]["phase"] == "RolledBack", after["status"]
    rolled_back = [
        e for e in events(cluster, namespace, "iris") if e["reason"] == "PromotionRolledBack"
    ]
    assert rolled_back and rolled_back[-1]["type"] == "Warning", rolled_back
    cluster.wait_for(
        lambda: (
            get(cluster, namespace, "onlineendpoint", "iris")["status"].get("traffic")
            == {"blue": 100}
        ),
        "the old version to take all traffic again",
    )
