"""An endpoint following an MLflow alias, on the real API server and a real MLflow server.

The operator runs in-process (its scoring pods on the simulated nodes), so it reaches the
harness's tracking server on loopback; examples/mlflow-alias is applied with the tracking
URI and the registered model's name pointed at this run's server.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path

import pytest
import yaml
from cluster_objects import condition, get, spec_managers
from modelserve_api import mlflow_registry as registry

pytestmark = pytest.mark.cluster
# The operator runs under Kopf's CLI runner, which holds stdout: figures go to the log.
log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "mlflow-alias"
CRDS = REPO / "crds"
# The operator looks the alias up this often here (the example says 30 s).
POLL_SECONDS = 5
TIMEOUT_S = 120.0


def apply_with_these_crds(cluster, namespace: str, documents: list[dict]) -> bool:
    """Apply the documents; False when the cluster's CRDs lack the fields they use.

    The CRDs are cluster-wide: a test run from another checkout may have applied its own
    since this session's `crds` fixture ran, so this tree's are applied again first.
    """
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    applied = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump_all(documents), check=False
    )
    if applied.returncode != 0 and "unknown field" not in applied.stderr:
        pytest.fail(f"kubectl apply failed: {applied.stderr}")
    return applied.returncode == 0


def example_documents(tracking_uri: str, registered: str) -> list[dict]:
    """The example's Model and endpoint, pointed at this run's server and registered model."""
    model = yaml.safe_load((EXAMPLE / "model.yaml").read_text())
    mlflow = model["spec"]["artifact"]["mlflow"]
    assert mlflow["followAlias"] is True
    mlflow["trackingURI"] = tracking_uri
    mlflow["pollSeconds"] = POLL_SECONDS
    model["spec"]["artifact"]["uri"] = f"models:/{registered}@champion"
    endpoint = yaml.safe_load((EXAMPLE / "endpoint.yaml").read_text())
    return [model, endpoint]


def pinned_digest(cluster, namespace: str) -> str | None:
    """The directory digest the scoring Deployment's pod template makes its pods verify."""
    deployment = get(cluster, namespace, "deployment", "churn-champion")
    if deployment is None:
        return None
    pod = deployment["spec"]["template"]["spec"]
    fetch = next(x for x in pod["initContainers"] if x["name"] == "fetch-model")
    return fetch["command"][fetch["command"].index("--sha256") + 1]


def registry_version(cluster, namespace: str) -> str | None:
    """The registry version the endpoint's status says its deployment is pinned to."""
    endpoint = get(cluster, namespace, "onlineendpoint", "churn") or {}
    deployments = endpoint.get("status", {}).get("deployments") or [{}]
    return deployments[0].get("registryVersion")


def alias_events(cluster, namespace: str) -> list[str]:
    listed = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "reason=AliasMoved", "-o", "json"
    )
    return [e["message"] for e in json.loads(listed.stdout)["items"]]


def test_the_endpoint_follows_the_alias_and_keeps_serving_when_files_are_gone(
    cluster, namespace, operator_factory, monkeypatch, mlflow_server, s3_store
):
    registered = f"churn-{uuid.uuid4().hex[:8]}"
    first = mlflow_server.log_model(registered, alias="champion", seed=1)
    operator = operator_factory(namespace, monkeypatch, {"MODELSERVE_NODE_SELECTOR": "type=kwok"})
    operator.start()
    try:
        documents = example_documents(mlflow_server.tracking_uri, registered)
        cluster.wait_for(
            lambda: apply_with_these_crds(cluster, namespace, documents),
            "the example applied with this tree's CRDs",
            TIMEOUT_S,
        )

        def model() -> dict:
            return get(cluster, namespace, "model", "churn-champion") or {}

        def pinned() -> dict:
            return model().get("status", {}).get("mlflow") or {}

        first_pin = cluster.wait_for(
            lambda: pinned() if pinned().get("version") == first else None,
            f"version {first} pinned",
            TIMEOUT_S,
        )
        cluster.wait_for(
            lambda: pinned_digest(cluster, namespace) == first_pin["sha256"],
            "the scoring Deployment pinned to the first version's digest",
            TIMEOUT_S,
        )

        # A data scientist promotes a new version: registering it moves @champion.
        second = mlflow_server.log_model(registered, alias="champion", seed=2)
        moved = time.monotonic()
        second_pin = cluster.wait_for(
            lambda: pinned() if pinned().get("version") == second else None,
            f"the alias followed to version {second}",
            TIMEOUT_S,
        )
        assert second_pin["previousVersion"] == first
        assert second_pin["sha256"] != first_pin["sha256"]
        assert second_pin["resolvedAt"] >= first_pin["resolvedAt"]
        assert condition(model(), "Ready")["status"] == "True"
        cluster.wait_for(
            lambda: pinned_digest(cluster, namespace) == second_pin["sha256"],
            "the scoring Deployment pinned to the second version's digest",
            TIMEOUT_S,
        )
        # A figure for the report, not an assertion: alias move to new pod template, which
        # is mostly the wait for the next look (pollSeconds).
        log.info("alias move to new pod template: %.1f s", time.monotonic() - moved)
        cluster.wait_for(
            lambda: registry_version(cluster, namespace) == second,
            f"the endpoint's status at version {second}",
            TIMEOUT_S,
        )
        expected = f"models:/{registered}@champion moved from {first} to {second}"
        messages = cluster.wait_for(
            lambda: alias_events(cluster, namespace), "an AliasMoved Event", TIMEOUT_S
        )
        assert any(m.startswith(expected) for m in messages), messages

        # The alias moves to a version whose files are gone from the store.
        third = mlflow_server.log_model(registered, seed=3)
        mlflow_server.delete_files(s3_store, registered, third)
        mlflow_server.set_alias(registered, "champion", third)
        degraded = cluster.wait_for(
            lambda: (
                condition(model(), "Degraded")
                if condition(model(), "Degraded").get("status") == "True"
                else None
            ),
            "the Model Degraded",
            TIMEOUT_S,
        )
        assert degraded["reason"] == registry.FILES_NOT_FOUND
        assert f"still serving version {second}" in degraded["message"]
        assert pinned()["version"] == second
        # The endpoint saw the Degraded Model and still serves what it pins.
        cluster.wait_for(
            lambda: (
                condition(get(cluster, namespace, "onlineendpoint", "churn") or {}, "Ready").get(
                    "status"
                )
                == "True"
            ),
            "the endpoint Ready",
            TIMEOUT_S,
        )
        assert pinned_digest(cluster, namespace) == second_pin["sha256"]
        assert registry_version(cluster, namespace) == second
        # GitOps owns the spec: only kubectl ever wrote it.
        assert spec_managers(cluster, namespace, "model", "churn-champion") == {
            "kubectl-client-side-apply"
        }
        assert spec_managers(cluster, namespace, "onlineendpoint", "churn") == {
            "kubectl-client-side-apply"
        }
    finally:
        operator.delete_objects_and_stop()
