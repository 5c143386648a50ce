"""The whole lifecycle on the real node: train, serve, degrade, retrain, gate, promote, serve.

A Model trains on iris and passes its gate; an OnlineEndpoint serves it with monitoring
and automatic promotion. The test sends predictions and then ground truth that is wrong
on purpose, so the rolling accuracy falls below the threshold. The operator must raise
PerformanceDegraded, register version 2 from the retrain template, let it train and pass
its gate, serve it next to the old version and move traffic to it in steps, all in
status (the spec is never written); the test then commits it to the spec as a GitOps
author would, and the old deployment goes. A steady client meanwhile calls the endpoint
and no call may fail.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator

import pytest
import requests
from claimed_site import ClaimedSite, claimed_site
from cluster_objects import condition
from endpoint_traffic import EndpointClient, SteadyLoad
from polling import wait_for
from sklearn.datasets import load_iris

pytestmark = [pytest.mark.node, pytest.mark.timeout(1500)]

POD_UID = 65532  # the scoring image's user; the trainer writes the volume as this uid
TRAIN_S = 420.0
POD_START_S = 300.0
INTERVAL_S = 15
MIN_ACCURACY = 0.8
FEEDBACK_ROWS = 120
TEMPLATE = {
    "task": "classification",
    "data": {"dataset": "iris"},
    "estimator": {
        "className": "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 500},
    },
    "gate": "accuracy >= 0.8",
    "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
}
DEPLOYMENT_RESOURCES = {"requests": {"cpu": "50m", "memory": "192Mi"}}


class Site(ClaimedSite):
    """The namespace the operator watches, with a claim `models` on a host directory."""

    def dump(self) -> None:
        """What a failing run needs to be understood."""
        print(json.dumps((self.get("onlineendpoint", "iris") or {}).get("status"), indent=1))
        print(self.kubectl("get", "models,jobs,deploy,pods", "-o", "wide", check=False).stdout)
        print(self.kubectl("get", "events", "--sort-by=.lastTimestamp", check=False).stdout[-4000:])


@pytest.fixture(scope="module")
def site(cluster, node, operator_factory) -> Iterator[Site]:
    """A namespace, the operator (pods pinned to the real node) and a bound claim `models`."""
    with claimed_site(cluster, operator_factory, "lifecycle-e2e", POD_UID, Site) as site:
        yield site


def model_v1() -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "iris-1"},
        "spec": {
            "modelName": "iris",
            "version": "1",
            "framework": "sklearn",
            "artifact": {"uri": "pvc://models/iris/1/model.joblib"},
            "training": TEMPLATE,
        },
    }


def lifecycle_endpoint(deployment: str = "blue", version: str = "1") -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "iris"},
        "spec": {
            "authMode": "none",
            "traffic": {deployment: 100},
            "deployments": [
                {
                    "name": deployment,
                    "model": {"name": "iris", "version": version},
                    "instanceCount": 1,
                    "resources": DEPLOYMENT_RESOURCES,
                }
            ],
            "monitoring": {
                "enabled": True,
                "intervalSeconds": INTERVAL_S,
                "performance": {"minAccuracy": MIN_ACCURACY, "minFeedbackRows": 100},
                "retrain": {"template": TEMPLATE, "promotion": "auto", "steps": [50, 100]},
            },
        },
    }


def test_degraded_accuracy_retrains_gates_and_promotes_a_new_version_without_a_failed_call(
    site: Site,
):
    site.apply(model_v1())
    wait_for(
        lambda: condition(site.get("model", "iris-1"), "Ready").get("status") == "True",
        "Model iris-1 trained and Ready",
        TRAIN_S,
    )
    site.apply(lifecycle_endpoint())
    try:
        wait_for(
            lambda: condition(site.get("onlineendpoint", "iris"), "Ready").get("status") == "True",
            "endpoint iris Ready",
            POD_START_S,
        )
    except BaseException:
        site.dump()
        raise
    service = site.get("service", "iris")
    assert service is not None
    client = EndpointClient(service["spec"]["clusterIP"], None, "iris")
    x, _ = load_iris(return_X_y=True)
    rows = x[::5].tolist()
    # Until kube-proxy programs the new router Service a connection is refused (CI saw 5 such
    # calls once): the steady client starts once the Service answers.
    wait_for(lambda: client.score(rows[:1]).status_code == 200, "the router answering", 60, 0.2)

    phase = ["serving version 1"]
    first_failure: list[str] = []

    calls = itertools.count()

    def steady_call(session: requests.Session) -> requests.Response:
        time.sleep(0.05)  # a steady trickle, not a load test: the node also trains
        # Rows like the training data, so the live window does not drift.
        start = next(calls) * 3 % len(x)
        try:
            response = client.score(x[start : start + 3].tolist(), session=session)
        except requests.RequestException:
            note_failure()
            raise
        if response.status_code != 200:
            note_failure()
        return response

    def note_failure() -> None:
        """Where the loop was at the first failed call (for the assertion's message)."""
        if first_failure:
            return
        endpoint = site.get("onlineendpoint", "iris") or {}
        status = endpoint.get("status", {})
        routers = site.kubectl("get", "pods", "-l", "app.kubernetes.io/component=router")
        first_failure.append(
            f"during {phase[0]}: spec.traffic {endpoint.get('spec', {}).get('traffic')}, "
            f"status.traffic {status.get('traffic')}, "
            f"retrain {status.get('monitoring', {}).get('retrain')}, routers {routers.stdout}"
        )

    with SteadyLoad(steady_call, workers=1, max_seconds=1400) as load:
        # Predictions, then ground truth that contradicts each one.
        sent = 0
        for i in range(FEEDBACK_ROWS):
            row = rows[i % len(rows)]
            response = wait_for(
                lambda row=row: (r := client.score([row])).status_code == 200 and r,
                "a prediction",
                30,
            )
            request_id = response.headers["x-request-id"]
            (predicted,) = response.json()
            wrong = (int(predicted) + 1) % 3
            feedback = requests.post(
                f"{client.base_url}/feedback",
                json={"requestId": request_id, "labels": [wrong]},
                headers={"x-modelserve-deployment": "blue"},
                timeout=10,
            )
            assert feedback.status_code == 200, feedback.text
            assert feedback.json() == {"matched": 1}
            sent += 1
        assert sent == FEEDBACK_ROWS

        try:
            degraded = wait_for(
                lambda: (
                    (c := condition(site.get("onlineendpoint", "iris"), "PerformanceDegraded")).get(
                        "status"
                    )
                    == "True"
                    and c
                ),
                "PerformanceDegraded",
                4 * INTERVAL_S,
            )
            phase[0] = "retraining"
            assert degraded["reason"] == "AccuracyBelowThreshold"
            assert "below 0.8" in degraded["message"]
            endpoint = site.get("onlineendpoint", "iris")
            assert condition(endpoint, "Ready")["status"] == "True"  # still serving
            # The inputs look like the training data: the accuracy, not drift, crossed.
            assert condition(endpoint, "DataDrift")["status"] != "True", endpoint["status"]

            retrained = wait_for(lambda: site.get("model", "iris-2"), "Model iris-2", 60)
            assert retrained["spec"]["artifact"]["uri"] == "pvc://models/iris/2/model.joblib"
            wait_for(
                lambda: condition(site.get("model", "iris-2"), "Ready").get("status") == "True",
                "Model iris-2 trained and through its gate",
                TRAIN_S,
            )
            phase[0] = "promotion"
            promoted = wait_for(
                lambda: (
                    (e := site.get("onlineendpoint", "iris"))
                    and e["status"].get("monitoring", {}).get("retrain", {}).get("state")
                    == "AwaitingCommit"
                    and e["status"].get("traffic") == {"iris-v2": 100}
                    and e
                ),
                "version 2 serving everything from status",
                POD_START_S + 6 * INTERVAL_S,
            )
            # Stepped in status only: the spec still says what its author wrote.
            assert promoted["spec"]["traffic"] == {"blue": 100}
            phase[0] = "commit"
            site.apply(lifecycle_endpoint("iris-v2", "2"))
            phase[0] = "after promotion"
            served = wait_for(
                lambda: (
                    (e := site.get("onlineendpoint", "iris"))
                    and e["status"].get("traffic") == {"iris-v2": 100}
                    and [d["name"] for d in e["status"].get("deployments", [])] == ["iris-v2"]
                    and e["status"]["monitoring"]["retrain"].get("state") == "Promoted"
                    and condition(e, "Ready").get("status") == "True"
                    and e
                ),
                "iris-v2 serving all traffic",
                POD_START_S,
            )
        except BaseException:
            site.dump()
            raise
        # A few more calls answered by the new version only.
        after = load.snapshot().served_by.get("iris-v2", 0)
        wait_for(
            lambda: load.snapshot().served_by.get("iris-v2", 0) > after + 10,
            "calls answered by iris-v2",
            60,
        )
    report = load.stop()
    assert report.failures == [], (first_failure, len(report.failures), report.failures[:3])
    assert report.served_by["blue"] > 0 and report.served_by["iris-v2"] > 0
    assert [d["name"] for d in served["spec"]["deployments"]] == ["iris-v2"]
    # Each step was analysed on call counters read from the new version's real pods.
    analysis = promoted["status"]["rollout"]["analysis"]
    assert analysis and all(a["result"] == "Passed" for a in analysis), analysis
    assert all(a["calls"] > 0 for a in analysis), analysis
    assert served["status"]["deployments"][0]["modelVersion"] == "2"
    reasons = [
        e["reason"]
        for e in json.loads(
            site.kubectl(
                "get", "events", "--field-selector", "involvedObject.name=iris", "-o", "json"
            ).stdout
        )["items"]
    ]
    assert {"AccuracyBelowThreshold", "RetrainStarted", "PromotionStep", "Promoted"} <= set(reasons)
