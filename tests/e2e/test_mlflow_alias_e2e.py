"""Models in the user's storage on the real node: an endpoint following an MLflow alias (the
pods fetch the model from a real tracking server, a move of the alias is stepped by
spec.rollout, and files gone from the store leave the endpoint serving what it pinned), and a
Model whose file is an `s3://` object the scoring pods download themselves.

SeaweedFS (the S3 store, also behind MLflow's artifact proxy) and `mlflow server` run on this
machine, bound to the node's bridge address, which the scoring pods reach; nothing they
serve leaves the machine. A steady client asks for the probabilities of one fixed row
throughout: each version's coefficients differ, so the answer says which version gave it.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
import uuid
from collections.abc import Iterator

import joblib
import pytest
import requests
from cluster_objects import condition
from e2e_target import NODE_NAME, host_address
from endpoint_traffic import SERVED_HEADER, EndpointClient, SteadyLoad
from iris_objects import SMALL_RESOURCES, iris_artifact
from mlflow_harness import MLflowServer, mlflow_binary, start_mlflow
from modelserve_api import mlflow_registry as registry
from namespace_site import NamespaceSite
from polling import wait_for
from s3_harness import S3Store, start_seaweedfs, weed_binary

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

ENDPOINT = "churn"
CANDIDATE = "champion-next"
POLL_SECONDS = 5
POD_START_S = 300.0
ROW = [0.3, -0.1, 0.5, 0.2]
# The Secret holding the store's read-only keys, named by the S3 Models
READER_SECRET = "iris-s3-reader"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Store]:
    """SeaweedFS on the node's bridge address, stopped by its PID at the end."""
    server = start_seaweedfs(weed_binary(), tmp_path_factory.mktemp("seaweedfs"), host_address())
    try:
        yield server.store
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mlflow(store: S3Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLflowServer]:
    """`mlflow server` on the node's bridge address, its artifacts in `store`."""
    directory = tmp_path_factory.mktemp("mlflow")
    server = start_mlflow(mlflow_binary(), directory, store, host=host_address())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def site(cluster, node, operator_factory) -> Iterator[NamespaceSite]:
    """A namespace and the operator in-process, its pods pinned to the real node."""
    namespace = f"mlflow-e2e-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    monkeypatch = pytest.MonkeyPatch()
    env = {"MODELSERVE_NODE_SELECTOR": f"kubernetes.io/hostname={NODE_NAME}"}
    operator = operator_factory(namespace, monkeypatch, env)
    site = NamespaceSite(cluster, namespace)
    try:
        wait_for(lambda: site.get("serviceaccount", "default"), "default ServiceAccount", 60)
        operator.start()
        yield site
    finally:
        operator.delete_objects_and_stop()
        monkeypatch.undo()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")


def documents(tracking_uri: str, registered: str) -> list[dict]:
    """A Model following `registered@champion`, and an endpoint serving it under a canary."""
    model = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "churn-champion"},
        "spec": {
            "modelName": "churn",
            "version": "champion",
            "framework": "sklearn",
            "artifact": {
                "uri": f"models:/{registered}@champion",
                "mlflow": {
                    "trackingURI": tracking_uri,
                    "followAlias": True,
                    "pollSeconds": POLL_SECONDS,
                },
            },
        },
    }
    endpoint = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": ENDPOINT},
        "spec": {
            "authMode": "none",
            "traffic": {"champion": 100},
            "deployments": [
                {
                    "name": "champion",
                    "model": {"name": "churn", "version": "champion"},
                    "resources": SMALL_RESOURCES,
                }
            ],
            "rollout": {
                "strategy": "canary",
                "steps": [50, 100],
                "intervalSeconds": 5,
                "minCalls": 10,
                "gates": [{"metric": "successRate", "min": 0.99}],
                "failedChecksTolerated": 0,
            },
        },
    }
    return [model, endpoint]


def test_an_alias_move_is_stepped_on_real_pods_and_gone_files_keep_the_pin(
    site: NamespaceSite, mlflow: MLflowServer, store: S3Store
):
    registered = f"churn-{uuid.uuid4().hex[:8]}"
    first = mlflow.log_model(registered, alias="champion", seed=1)
    site.apply(*documents(mlflow.tracking_uri, registered))

    def endpoint() -> dict:
        return site.get("onlineendpoint", ENDPOINT) or {}

    def model() -> dict:
        return site.get("model", "churn-champion") or {}

    def registry_version(body: dict) -> str | None:
        deployments = body.get("status", {}).get("deployments") or [{}]
        return deployments[0].get("registryVersion")

    wait_for(
        lambda: (
            condition(e := endpoint(), "Ready").get("status") == "True"
            and e["status"].get("traffic") == {"champion": 100}
            and registry_version(e) == first
        ),
        f"version {first} fetched from MLflow and served",
        POD_START_S,
        1.0,
    )
    service = site.get("service", ENDPOINT)
    assert service, "no router Service"
    client = EndpointClient(service["spec"]["clusterIP"], None, "churn")
    answers: list[tuple[float, str, str]] = []  # (sent, who answered, the answer)

    def ask(session: requests.Session) -> requests.Response:
        sent = time.time()
        response = session.post(
            f"{client.base_url}/score", json={"data": [ROW], "probabilities": True}, timeout=10
        )
        if response.status_code == 200:
            who = response.headers.get(SERVED_HEADER, "")
            answers.append((sent, who, json.dumps(response.json(), sort_keys=True)))
        time.sleep(0.05)
        return response

    # Until kube-proxy programs the new Service a connection is refused: start once it answers.
    wait_for(lambda: client.score([ROW]).status_code == 200, "the router answering", 60, 0.2)
    with SteadyLoad(ask, workers=2, max_seconds=600) as load:
        wait_for(lambda: len(answers) >= 20, "20 answers from version 1", 60)
        # A data scientist registers version 2 and moves @champion to it.
        second = mlflow.log_model(registered, alias="champion", seed=2)
        moved = time.time()
        done = wait_for(
            lambda: (
                (e := endpoint())
                and e["status"].get("rollout", {}).get("phase") == "Succeeded"
                and e["status"].get("traffic") == {"champion": 100}
                and registry_version(e) == second
                and condition(e, "Ready").get("status") == "True"
                and site.get("deployment", f"{ENDPOINT}-{CANDIDATE}") is None
                and e
            ),
            f"version {second} stepped in and handed back to champion",
            POD_START_S,
            1.0,
        )
        settled = time.time()
        wait_for(lambda: len([a for a in answers if a[0] > settled]) >= 20, "20 more answers", 60)

        # The alias moves to a version whose files are gone from the store.
        third = mlflow.log_model(registered, seed=3)
        mlflow.delete_files(store, registered, third)
        mlflow.set_alias(registered, "champion", third)
        degraded = wait_for(
            lambda: d if (d := condition(model(), "Degraded")).get("status") == "True" else None,
            "the Model Degraded",
            120,
        )
        gone_at = time.time()
        wait_for(lambda: len([a for a in answers if a[0] > gone_at]) >= 20, "answers after", 60)
    report = load.stop()
    assert report.failures == [], report.failures[:3]

    old = {a for t, who, a in answers if t < moved}
    new = {a for _, who, a in answers if who == CANDIDATE}
    assert len(old) == 1 and len(new) == 1 and old != new, (old, new)
    # After the hand-over every answer is version 2's, from champion's own pods.
    after = {(who, a) for t, who, a in answers if t > settled}
    assert after == {("champion", *new)}, after
    # The first moment after which every answer was version 2's: the alias move served 100 %.
    last_old = max(t for t, _, a in answers if a in old)
    full = min(t for t, _, a in answers if a in new and t > last_old)
    (change,) = done["status"]["rollout"]["versionChanges"]
    assert change["candidate"] == CANDIDATE and change.get("toRegistryVersion") == second
    assert [a["result"] for a in done["status"]["rollout"]["analysis"]] == ["Passed"]

    assert degraded["reason"] == registry.FILES_NOT_FOUND, degraded
    assert f"still serving version {second}" in degraded["message"], degraded
    # Nothing moved on the endpoint: version 2 answers on, with no candidate started.
    assert {a for t, _, a in answers if t > gone_at} == new
    assert registry_version(endpoint()) == second
    assert site.get("deployment", f"{ENDPOINT}-{CANDIDATE}") is None
    print(
        f"\nALIAS MOVE {first} -> {second}: 100 % served by the new version "
        f"{full - moved:.1f} s after the move (pollSeconds {POLL_SECONDS}; canary 50 -> 100, "
        f"interval 5 s); handed back and candidate gone {settled - moved:.1f} s; "
        f"answers {dict(report.served_by)}",
        file=sys.__stdout__,
        flush=True,
    )


def s3_model(name: str, version: str, key: str, sha256: str, store: S3Store) -> dict:
    """Model `name`-`version` whose file is `key` in the reader's bucket, read with its keys."""
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": f"{name}-{version}"},
        "spec": {
            "modelName": name,
            "version": version,
            "framework": "sklearn",
            "artifact": {
                "uri": f"s3://{store.reader_bucket}/{key}",
                "sha256": sha256,
                "s3": {
                    "endpointURL": store.endpoint_url,
                    "region": store.region,
                    "addressingStyle": "path",
                    "credentialsSecret": READER_SECRET,
                },
            },
        },
    }


def test_a_model_in_s3_is_downloaded_by_its_pods_and_a_missing_object_is_named(
    site: NamespaceSite, store: S3Store
):
    artifact = iris_artifact()
    fitted = joblib.load(io.BytesIO(artifact))
    digest = hashlib.sha256(artifact).hexdigest()
    store.client().put_object(Bucket=store.reader_bucket, Key="iris/1/model.joblib", Body=artifact)
    reader = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": READER_SECRET},
        "stringData": {
            "AWS_ACCESS_KEY_ID": store.reader_access_key,
            "AWS_SECRET_ACCESS_KEY": store.reader_secret_key,
        },
    }
    deployment = {"instanceCount": 1, "resources": SMALL_RESOURCES}
    endpoint = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "iris"},
        "spec": {
            "authMode": "none",
            "traffic": {"blue": 100, "green": 0},
            "deployments": [
                {"name": "blue", "model": {"name": "iris", "version": "1"}, **deployment},
                # version 2's object was never uploaded
                {"name": "green", "model": {"name": "iris", "version": "2"}, **deployment},
            ],
        },
    }
    applied = time.time()
    site.apply(
        reader,
        s3_model("iris", "1", "iris/1/model.joblib", digest, store),
        s3_model("iris", "2", "iris/2/model.joblib", digest, store),
        endpoint,
    )
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    service = wait_for(lambda: site.get("service", "iris"), "the router Service", POD_START_S)
    client = EndpointClient(service["spec"]["clusterIP"], None, "iris")
    answer = wait_for(
        lambda: (r := client.score(rows)).status_code == 200 and r.json(),
        "version 1, downloaded from S3 by its pod, answering through the router",
        POD_START_S,
    )
    assert answer == fitted.predict(rows).tolist()
    answered = time.time()

    missing = wait_for(
        lambda: (
            d
            if (d := condition(site.get("model", "iris-2"), "Degraded")).get("status") == "True"
            else None
        ),
        "Model iris-2 Degraded by its pod's failed download",
        POD_START_S,
    )
    assert missing["reason"] == "ArtifactNotFound", missing
    assert f"s3://{store.reader_bucket}/iris/2/model.joblib" in missing["message"], missing
    assert condition(site.get("model", "iris-1"), "Ready").get("status") == "True"
    # The missing version costs the endpoint nothing: version 1 answers on.
    assert client.score(rows).json() == answer
    print(
        f"\nS3 MODEL: first answer {answered - applied:.1f} s after apply; iris-2: "
        f"{missing['reason']}: {missing['message']}",
        file=sys.__stdout__,
        flush=True,
    )
