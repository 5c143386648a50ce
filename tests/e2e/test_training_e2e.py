"""Training on the real node: a Model's Job trains, gates and writes; an endpoint serves it.

One namespace and one volume serve the module: a host directory (owned by the pods'
uid) behind a PersistentVolume, claimed as `models`. Two Models train on the bundled
iris data: one whose gate holds, which an OnlineEndpoint then serves, and a one-split
tree whose gate cannot hold, which must stay unservable and write no artifact.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import joblib
import pandas as pd
import pytest
from claimed_site import ClaimedSite, claimed_site
from cluster_objects import condition
from e2e_target import NODE_NAME
from endpoint_traffic import EndpointClient
from polling import wait_for
from sklearn.datasets import load_iris

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

POD_UID = 65532  # the scoring image's user; the trainer writes the volume as this uid
# A training pod imports scikit-learn and fits in seconds, but on a busy two-core
# machine a pod start alone can take minutes.
TRAIN_S = 300.0
POD_START_S = 300.0
GOOD_GATE = "accuracy >= 0.8"
# It parses (the API server accepts it) but a one-split tree on three species cannot
# reach it: at best it tells one species from the other two.
IMPOSSIBLE_GATE = "accuracy >= 0.9"


class Site(ClaimedSite):
    """The namespace the operator watches and the host directory behind claim `models`."""

    def wait_model(self, name: str, reason: str) -> dict:
        """The Model once its Ready condition has `reason`; its pods' state on failure."""

        def settled() -> dict | None:
            model = self.get("model", name)
            return model if condition(model, "Ready").get("reason") == reason else None

        try:
            return wait_for(settled, f"Model {name} with reason {reason}", TRAIN_S)
        except BaseException:
            print(json.dumps((self.get("model", name) or {}).get("status"), indent=1))
            print(self.kubectl("get", "jobs,pods", "-o", "wide", check=False).stdout)
            print(self.kubectl("logs", f"job/{name}-train", "--tail=40", check=False).stdout)
            raise


def trained_model(name: str, estimator: dict, gate: str, **spec: Any) -> dict:
    model_name, version = name.rsplit("-", 1)
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {
            "modelName": model_name,
            "version": version,
            "framework": "sklearn",
            "artifact": {"uri": f"pvc://models/{model_name}/{version}/model.joblib"},
            "training": {
                "task": "classification",
                "data": {"dataset": "iris"},
                "estimator": estimator,
                "gate": gate,
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                **spec,
            },
        },
    }


@pytest.fixture(scope="module")
def site(cluster, node, operator_factory) -> Iterator[Site]:
    """A namespace, the operator (pods pinned to the real node) and a bound claim `models`."""
    with claimed_site(cluster, operator_factory, "training-e2e", POD_UID, Site) as site:
        yield site


@pytest.fixture(scope="module")
def trained(site: Site) -> dict:
    """Both Models applied at once (their Jobs share the node); the good one once Ready."""
    site.apply(
        trained_model(
            "iris-1",
            {"className": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}},
            GOOD_GATE,
            preprocessing=[{"className": "sklearn.preprocessing.StandardScaler"}],
            crossValidation={"folds": 3},
        ),
        trained_model(
            "stump-1",
            {"className": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 1}},
            IMPOSSIBLE_GATE,
        ),
    )
    return site.wait_model("iris-1", "Trained")


def test_a_trained_model_is_ready_with_its_metrics_and_the_digest_of_what_was_written(
    site: Site, trained: dict
):
    status = trained["status"]
    artifact = site.volume_dir / "iris" / "1" / "model.joblib"
    assert artifact.is_file(), f"the trainer wrote no {artifact}"
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()

    assert condition(trained, "Ready")["status"] == "True"
    assert GOOD_GATE in condition(trained, "Ready")["message"]
    assert status["training"]["result"] == "Succeeded"
    assert status["training"]["artifactSha256"] == digest
    assert status["training"]["gate"] == {"expression": GOOD_GATE, "passed": True}
    assert status["training"]["splitSizes"] == {"train": 104, "validation": 23, "test": 23}
    assert len(status["training"]["crossValidation"]["scores"]) == 3
    assert status["metrics"]["accuracy"] >= 0.8
    assert set(status["metrics"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert status["nFeatures"] == 4 and status["classes"] == ["0", "1", "2"]
    assert status["sizeBytes"] == artifact.stat().st_size
    # The sidecar files the trainer promises, next to the artifact.
    sidecar = (artifact.parent / "model.joblib.sha256").read_text().split()
    assert sidecar == [digest, "model.joblib"]
    metrics = json.loads((artifact.parent / "metrics.json").read_text())
    assert metrics["metrics"] == status["metrics"]
    assert (artifact.parent / "baseline.json").is_file()
    # The Job ran on the real node, where the volume is.
    pods = json.loads(
        site.kubectl(
            "get", "pods", "-l", "batch.kubernetes.io/job-name=iris-1-train", "-o", "json"
        ).stdout
    )["items"]
    assert pods and {p["spec"]["nodeName"] for p in pods} == {NODE_NAME}


def test_an_endpoint_serves_the_trained_model(site: Site, trained: dict):
    site.apply(
        {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "OnlineEndpoint",
            "metadata": {"name": "iris"},
            "spec": {
                "authMode": "key",
                "traffic": {"blue": 100},
                "deployments": [
                    {
                        "name": "blue",
                        "model": {"name": "iris", "version": "1"},
                        "instanceCount": 1,
                        "resources": {"requests": {"cpu": "50m", "memory": "192Mi"}},
                    }
                ],
            },
        }
    )

    def ready() -> dict | None:
        endpoint = site.get("onlineendpoint", "iris")
        return endpoint if condition(endpoint, "Ready").get("status") == "True" else None

    try:
        wait_for(ready, "endpoint iris Ready", POD_START_S)
    except BaseException:
        print(json.dumps((site.get("onlineendpoint", "iris") or {}).get("status"), indent=1))
        print(site.kubectl("get", "deploy,pods", "-o", "wide", check=False).stdout)
        raise
    service = site.get("service", "iris")
    secret = site.get("secret", "iris-keys")
    assert service and secret
    client = EndpointClient(
        service["spec"]["clusterIP"],
        base64.b64decode(secret["data"]["primaryKey"]).decode(),
        "iris",
    )
    rows = load_iris().data[::10].tolist()
    # What the artifact on the volume predicts, loaded here after checking its digest.
    artifact = site.volume_dir / "iris" / "1" / "model.joblib"
    assert (
        hashlib.sha256(artifact.read_bytes()).hexdigest()
        == (trained["status"]["training"]["artifactSha256"])
    )
    fitted = joblib.load(artifact)
    # It was fitted on named columns (the trainer's DataFrame); the endpoint gets bare rows.
    expected = fitted.predict(pd.DataFrame(rows, columns=fitted.feature_names_in_)).tolist()

    response = wait_for(
        lambda: (r := client.score(rows)).status_code == 200 and r,
        "a prediction through the endpoint",
        60,
    )

    assert response.json() == expected
    assert response.headers["x-modelserve-deployment"] == "blue"
    deployment = site.get("deployment", "iris-blue")
    init = deployment["spec"]["template"]["spec"]["initContainers"][0]
    # The scoring pod verified the file against the digest the trainer reported.
    assert trained["status"]["training"]["artifactSha256"] in json.dumps(init)


def test_a_model_that_fails_its_gate_is_degraded_and_no_artifact_is_written(
    site: Site, trained: dict
):
    stump = site.wait_model("stump-1", "GateFailed")

    ready = condition(stump, "Ready")
    assert ready["status"] == "False"
    assert condition(stump, "Degraded")["status"] == "True"
    assert f"gate '{IMPOSSIBLE_GATE}' failed: accuracy = " in ready["message"]
    assert ready["message"].endswith("no artifact was written")
    training = stump["status"]["training"]
    assert training["result"] == "GateFailed"
    assert "artifactSha256" not in training
    assert training["gate"] == {"expression": IMPOSSIBLE_GATE, "passed": False}
    assert stump["status"]["metrics"]["accuracy"] < 0.9
    directory = site.volume_dir / "stump" / "1"
    assert not (directory / "model.joblib").exists()
    assert not (directory / "baseline.json").exists()
    assert json.loads((directory / "metrics.json").read_text())["result"] == "gateFailed"

    # An endpoint naming it gets no scoring pods, and says why.
    site.apply(
        {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "OnlineEndpoint",
            "metadata": {"name": "stump"},
            "spec": {
                "authMode": "none",
                "traffic": {"blue": 100},
                "deployments": [{"name": "blue", "model": {"name": "stump", "version": "1"}}],
            },
        }
    )
    refused = wait_for(
        lambda: (
            (c := condition(site.get("onlineendpoint", "stump"), "Ready")).get("reason")
            == "ModelNotResolved"
            and c
        ),
        "endpoint stump to refuse the gated-out model",
        60,
    )
    assert "version '1' is not Ready (GateFailed: " in refused["message"]
    assert site.get("deployment", "stump-blue") is None
