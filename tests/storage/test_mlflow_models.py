"""models:/ artifacts against a real MLflow server: resolve, pin, fetch, verify, serve."""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from mlflow_harness import ARTIFACT_BUCKET
from modelserve_api import mlflow_registry as registry
from modelserve_api import parse_model
from modelserve_client.errors import ModelserveError
from modelserve_client.mlflow_models import build_mlflow_model, pinned_reference
from modelserve_operator.builders.common import BuilderSettings
from modelserve_operator.reconcilers.model import ModelReconciler
from modelserve_scoring.errors import ArtifactRefused
from modelserve_scoring.mlflow_fetch import fetch_mlflow
from modelserve_scoring.service import ScoringService
from modelserve_scoring.settings import ScoringSettings
from ports import LOOPBACK, free_port

NAME = "churn"


@pytest.fixture(scope="module")
def churn(mlflow_server) -> dict[str, str]:
    """Two versions of `churn`; @champion on version 2 (the versions the server gave)."""
    first = mlflow_server.log_model(NAME, seed=1)
    second = mlflow_server.log_model(NAME, alias="champion", seed=2)
    return {"first": first, "champion": second}


class Cluster:
    """The API objects the Model reconciler reads and writes, held in memory."""

    def __init__(self, *objects: dict) -> None:
        self.objects = {(o["kind"], o["metadata"]["name"]): copy.deepcopy(o) for o in objects}
        self.events: list[str] = []

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict | None:
        found = self.objects.get((kind, name))
        return copy.deepcopy(found) if found else None

    def patch_status(self, api_version, kind, namespace, name, patch) -> None:
        status = self.objects[(kind, name)].setdefault("status", {})
        for key, value in patch.items():
            status[key] = value

    def emit_event(self, involved, *, reason, message, event_type) -> None:
        self.events.append(reason)

    def condition(self, name: str, kind: str = "Ready") -> dict:
        conditions = self.objects[("Model", name)]["status"]["conditions"]
        return next(c for c in conditions if c["type"] == kind)


def model_object(uri: str, tracking_uri: str, secret: str | None = None) -> dict:
    mlflow = {"trackingURI": tracking_uri, **({"credentialsSecret": secret} if secret else {})}
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "churn-model", "namespace": "default", "generation": 1, "uid": "u1"},
        "spec": {
            "modelName": "churn",
            "version": "1",
            "framework": "sklearn",
            "artifact": {"uri": uri, "mlflow": mlflow},
        },
    }


def reconcile(cluster: Cluster) -> dict:
    ModelReconciler(cluster, BuilderSettings()).reconcile("default", "churn-model")
    return cluster.objects[("Model", "churn-model")]["status"]


def test_an_alias_resolves_to_its_version_and_the_directory_digest_is_pinned(mlflow_server, churn):
    cluster = Cluster(model_object(f"models:/{NAME}@champion", mlflow_server.tracking_uri))
    status = reconcile(cluster)

    pinned = status["mlflow"]
    assert pinned["version"] == churn["champion"]
    assert pinned["downloadURI"].startswith("mlflow-artifacts:/")
    assert len(pinned["sha256"]) == 64
    assert dt.datetime.fromisoformat(pinned["resolvedAt"])
    ready = cluster.condition("churn-model")
    assert (ready["status"], ready["reason"]) == ("True", "MLflowResolved")

    # The alias moves on: this Model keeps what it pinned.
    mlflow_server.log_model(NAME, alias="champion", seed=3)
    assert reconcile(cluster)["mlflow"] == pinned


def test_a_version_resolves_to_itself(mlflow_server, churn):
    resolved = registry.Registry(mlflow_server.tracking_uri).resolve(
        f"models:/{NAME}/{churn['first']}"
    )
    assert resolved.version == churn["first"]


@pytest.mark.parametrize(
    ("uri", "reason", "named"),
    [
        ("models:/no-such-model/1", registry.MODEL_NOT_FOUND, "no-such-model"),
        ("models:/no-such-model@champion", registry.MODEL_NOT_FOUND, "no-such-model"),
        (f"models:/{NAME}@no-such-alias", registry.ALIAS_NOT_FOUND, "no-such-alias"),
        (f"models:/{NAME}/999", registry.VERSION_NOT_FOUND, "999"),
    ],
)
def test_an_unknown_reference_makes_the_model_degraded_naming_it(
    mlflow_server, churn, uri, reason, named
):
    cluster = Cluster(model_object(uri, mlflow_server.tracking_uri))
    status = reconcile(cluster)
    degraded = cluster.condition("churn-model", "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", reason), degraded["message"]
    assert named in degraded["message"]
    assert "mlflow" not in status


def test_an_unreachable_server_and_a_missing_secret_are_named(mlflow_server, churn):
    closed = f"http://{LOOPBACK}:{free_port()}"
    cluster = Cluster(model_object(f"models:/{NAME}@champion", closed))
    reconcile(cluster)
    degraded = cluster.condition("churn-model", "Degraded")
    assert degraded["reason"] == registry.UNREACHABLE and closed in degraded["message"]

    cluster = Cluster(
        model_object(f"models:/{NAME}@champion", mlflow_server.tracking_uri, "mlflow-creds")
    )
    reconcile(cluster)
    degraded = cluster.condition("churn-model", "Degraded")
    assert degraded["reason"] == "MLflowCredentialsNotFound"
    assert "mlflow-creds" in degraded["message"]


def _pinned(mlflow_server, version: str) -> tuple[str, str]:
    server = registry.Registry(mlflow_server.tracking_uri)
    resolved = server.resolve(f"models:/{NAME}/{version}")
    return resolved.download_uri, server.download(resolved.download_uri, None)


def test_the_fetched_directory_is_served_with_its_signature(mlflow_server, churn, tmp_path):
    download_uri, digest = _pinned(mlflow_server, churn["first"])
    env = {"MLFLOW_TRACKING_URI": mlflow_server.tracking_uri}
    model_dir = fetch_mlflow(download_uri, digest, tmp_path / "model", env)

    assert {"MLmodel", "model.pkl", "requirements.txt"} <= {p.name for p in model_dir.iterdir()}
    assert registry.directory_digest(model_dir) == digest

    async def serve():
        service = ScoringService(
            ScoringSettings(
                model_dir=model_dir, artifact_sha256=digest, runtime="sklearn", onnx_cache=False
            )
        )
        await service.start()
        try:
            assert service.ready, service.not_ready_reason()
            meta = service.model_metadata()
            rows = np.array([[3.0, 3.0, 0.0, 0.0], [-3.0, -3.0, 0.0, 0.0]])
            return meta, service.runtime.predict(rows)
        finally:
            await service.stop()

    meta, predictions = asyncio.run(serve())
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert meta["outputs"][0]["datatype"] == "INT64"
    assert meta["parameters"]["library_versions"]["scikit-learn"]
    assert meta["parameters"]["library_version_mismatch"] == ""
    assert predictions.tolist() == [1, 0]


def test_a_directory_changed_after_pinning_is_refused_and_nothing_is_left(
    mlflow_server, s3_store, churn, tmp_path
):
    version = mlflow_server.log_model(NAME, seed=4)
    download_uri, digest = _pinned(mlflow_server, version)
    # Someone with write access to the store replaces the pickle behind the pinned version.
    client = s3_store.client()
    root = registry.artifact_path(download_uri)
    key = next(
        item["Key"]
        for item in client.list_objects_v2(Bucket=ARTIFACT_BUCKET, Prefix=root)["Contents"]
        if item["Key"].endswith("/model.pkl")
    )
    client.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=b"not the model that was pinned")

    dest = tmp_path / "model"
    env = {"MLFLOW_TRACKING_URI": mlflow_server.tracking_uri}
    with pytest.raises(ArtifactRefused, match="sha256 mismatch") as refused:
        fetch_mlflow(download_uri, digest, dest, env)
    assert refused.value.reason == "ArtifactDigestMismatch"
    assert list(Path(dest).iterdir()) == []


def test_the_client_registers_an_alias_as_the_version_it_names_now(mlflow_server, churn):
    uri, version, alias = pinned_reference(
        f"models:/{NAME}@champion", mlflow_server.tracking_uri, None
    )
    champion = registry.Registry(mlflow_server.tracking_uri).resolve(f"models:/{NAME}@champion")
    assert (uri, version, alias) == (
        f"models:/{NAME}/{champion.version}",
        champion.version,
        "champion",
    )
    manifest = build_mlflow_model(uri, mlflow_server.tracking_uri, "churn", version)
    assert parse_model(manifest).spec.artifact.mlflow.tracking_uri == mlflow_server.tracking_uri

    with pytest.raises(ModelserveError, match="no alias 'gone'") as refused:
        pinned_reference(f"models:/{NAME}@gone", mlflow_server.tracking_uri, None)
    assert "--version" in refused.value.fix


def test_credentials_from_the_secret_sign_in_and_wrong_ones_are_named(mlflow_auth_server):
    version = mlflow_auth_server.log_model("secured", alias="champion")
    uri = "models:/secured@champion"

    def secret(values: dict[str, str]) -> dict:
        return {
            "kind": "Secret",
            "metadata": {"name": "mlflow-creds", "namespace": "default"},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
        }

    model = model_object(uri, mlflow_auth_server.tracking_uri, "mlflow-creds")
    good = Cluster(model, secret(mlflow_auth_server.credentials))
    assert reconcile(good)["mlflow"]["version"] == version

    wrong = {**mlflow_auth_server.credentials, "MLFLOW_TRACKING_PASSWORD": "not-the-password"}
    for values in (wrong, {}):
        cluster = Cluster(model, secret(values))
        reconcile(cluster)
        degraded = cluster.condition("churn-model", "Degraded")
        assert degraded["reason"] == registry.ACCESS_DENIED, degraded["message"]
        assert "credentialsSecret" in degraded["message"]
        assert "not-the-password" not in degraded["message"]
