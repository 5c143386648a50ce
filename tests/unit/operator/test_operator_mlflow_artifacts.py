"""models:/ artifacts: what scoring pods of a resolved MLflow Model fetch, and with what."""

from __future__ import annotations

import pytest
from modelserve_api import ModelReference, parse_model
from modelserve_operator.builders import BuilderSettings, build_scoring_deployment
from modelserve_operator.reconcilers.model_resolution import ModelNotResolved, resolve_model
from modelserve_operator.resolved import ResolvedModel
from operator_bodies import model_body

DOWNLOAD_URI = "mlflow-artifacts:/1/models/m-0123/artifacts"
DIGEST = "cd" * 32


def mlflow_model(resolved: bool, secret: str | None = "mlflow-reader"):
    body = model_body("3", "models:/churn@champion")
    body["spec"]["artifact"].pop("sha256")
    body["spec"]["artifact"]["mlflow"] = {
        "trackingURI": "http://mlflow.mlops.svc:5000",
        **({"credentialsSecret": secret} if secret else {}),
    }
    if resolved:
        body["status"] = {
            "mlflow": {
                "version": "7",
                "source": "models:/m-0123",
                "downloadURI": DOWNLOAD_URI,
                "sha256": DIGEST,
                "resolvedAt": "2026-12-04T21:00:00Z",
            }
        }
    return parse_model(body)


def test_scoring_pods_fetch_the_pinned_directory_with_the_secret_by_reference(make_endpoint):
    endpoint = make_endpoint(deployments=[{"name": "blue", "model": {"name": "iris"}}])
    resolved = ResolvedModel.from_model(mlflow_model(resolved=True))
    pod = build_scoring_deployment(
        endpoint, endpoint.spec.deployments[0], resolved, BuilderSettings()
    )["spec"]["template"]["spec"]
    [fetch] = pod["initContainers"]
    command = fetch["command"]
    assert command[command.index("--uri") + 1] == DOWNLOAD_URI
    assert command[command.index("--sha256") + 1] == DIGEST
    env = {e["name"]: e for e in fetch["env"]}
    assert env["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow.mlops.svc:5000"
    for key in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        ref = env[key]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "mlflow-reader", "key": key, "optional": True}
    server_env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    # the server is pointed at the fetched directory, which it verifies as a whole
    assert server_env["MODELSERVE_ARTIFACT_PATH"].rstrip("/") == server_env["MODELSERVE_MODEL_DIR"]
    assert server_env["MODELSERVE_ARTIFACT_SHA256"] == DIGEST


def test_an_unresolved_model_is_not_deployed():
    with pytest.raises(ValueError, match=r"not resolved in MLflow yet \(models:/churn@champion\)"):
        ResolvedModel.from_model(mlflow_model(resolved=False))


def followed_model(ready: bool, load_refused: str | None = None):
    """Model `iris` version champion following @champion, pinned to version 7."""
    body = model_body("champion", "models:/churn@champion")
    body["spec"]["artifact"].pop("sha256")
    body["spec"]["artifact"]["mlflow"] = {"trackingURI": "http://m:5000", "followAlias": True}
    condition = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "MLflowResolved" if ready else "MLflowFilesNotFound",
        "message": "",
        "lastTransitionTime": "2026-12-04T21:00:00Z",
    }
    body["status"] = {
        "conditions": [condition],
        "mlflow": {"version": "7", "downloadURI": DOWNLOAD_URI, "sha256": DIGEST},
        **({"runtime": {"loadRefused": load_refused}} if load_refused else {}),
    }
    return parse_model(body)


def test_a_followed_alias_that_cannot_be_followed_keeps_serving_its_pin():
    reference = ModelReference(name="iris", version="champion")
    resolved = resolve_model(reference, [followed_model(ready=False)])
    assert (resolved.artifact_sha256, resolved.registry_version) == (DIGEST, "7")


def test_a_pin_the_pods_refuse_is_not_served():
    reference = ModelReference(name="iris", version="champion")
    with pytest.raises(ModelNotResolved, match="not Ready"):
        resolve_model(reference, [followed_model(ready=False, load_refused="sklearn 9.9")])
