"""s3:// artifacts: what the Model may say, and what every pod that fetches one gets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from modelserve_api import SpecError, parse_batch_deployment, parse_model
from modelserve_operator.builders import BuilderSettings, build_scoring_deployment
from modelserve_operator.builders.batch import build_run_job
from modelserve_operator.resolved import ResolvedModel
from operator_bodies import model_body

ROOT = Path(__file__).resolve().parents[3]
URI = "s3://models-prod/churn/v3/model.joblib"
SECRET_NAME = "churn-s3-reader"
ROLE = "arn:aws:iam::123456789012:role/churn-model-reader"


def s3_model(s3: dict | None, uri: str = URI):
    body = model_body("3", uri)
    if s3 is not None:
        body["spec"]["artifact"]["s3"] = s3
    return parse_model(body)


def scoring_pod(make_endpoint, s3: dict | None) -> dict:
    endpoint = make_endpoint(deployments=[{"name": "blue", "model": {"name": "iris"}}])
    resolved = ResolvedModel.from_model(s3_model(s3))
    manifest = build_scoring_deployment(
        endpoint, endpoint.spec.deployments[0], resolved, BuilderSettings()
    )
    return manifest["spec"]["template"]["spec"]


def batch_pod(s3: dict | None) -> dict:
    batch = parse_batch_deployment(
        {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "BatchDeployment",
            "metadata": {"name": "nightly", "namespace": "ml", "uid": "bd-uid", "generation": 1},
            "spec": {
                "model": {"name": "iris", "version": "3"},
                "input": {"claimName": "raw", "glob": "in/*.csv"},
                "output": {"claimName": "scored", "path": "out"},
            },
        }
    )
    resolved = ResolvedModel.from_model(s3_model(s3))
    job = build_run_job(batch, resolved, "nightly-rabc1234", BuilderSettings())
    return job["spec"]["template"]["spec"]


def fetch_container(pod: dict) -> dict:
    (fetch,) = [c for c in pod["initContainers"] if c["name"] == "fetch-model"]
    return fetch


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.fixture(params=["scoring", "batch"])
def pod_of(request, make_endpoint):
    """Builds the pod of either kind that fetches the artifact: both must get the same."""
    if request.param == "scoring":
        return lambda s3: scoring_pod(make_endpoint, s3)
    return batch_pod


def test_credentials_come_from_the_secret_by_reference_only(pod_of):
    pod = pod_of(
        {
            "endpointURL": "http://seaweedfs.storage.svc:8333",
            "region": "eu-west-1",
            "addressingStyle": "path",
            "credentialsSecret": SECRET_NAME,
        }
    )
    fetch = fetch_container(pod)
    env = env_of(fetch)
    assert env["MODELSERVE_S3_ENDPOINT_URL"]["value"] == "http://seaweedfs.storage.svc:8333"
    assert env["MODELSERVE_S3_ADDRESSING_STYLE"]["value"] == "path"
    assert env["AWS_REGION"]["value"] == "eu-west-1"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert "value" not in env[key]
        ref = env[key]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (SECRET_NAME, key)
    # a session token comes only with temporary credentials
    assert env["AWS_SESSION_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert "optional" not in env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]
    assert flag(fetch["command"], "--uri") == URI
    # the server that unpickles the model never sees the credentials
    for container in pod["containers"]:
        assert not set(env_of(container)) & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_a_role_gets_a_projected_web_identity_token_in_the_fetch_container_only(pod_of):
    pod = pod_of({"roleARN": ROLE, "region": "us-east-2"})
    fetch = fetch_container(pod)
    env = env_of(fetch)
    assert env["AWS_ROLE_ARN"]["value"] == ROLE
    token_file = env["AWS_WEB_IDENTITY_TOKEN_FILE"]["value"]
    (volume,) = [v for v in pod["volumes"] if "projected" in v]
    (source,) = volume["projected"]["sources"]
    token = source["serviceAccountToken"]
    assert token["audience"] == "sts.amazonaws.com"
    assert token["expirationSeconds"] == 3600
    (mount,) = [m for m in fetch["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    assert token_file == f"{mount['mountPath']}/{token['path']}"
    server_mounts = [m["name"] for c in pod["containers"] for m in c["volumeMounts"]]
    assert volume["name"] not in server_mounts
    assert "AWS_ACCESS_KEY_ID" not in env
    # still no API token in the pod: only this audience-bound one, for STS
    assert pod["automountServiceAccountToken"] is False


def test_without_s3_settings_the_pods_own_aws_environment_applies(pod_of):
    pod = pod_of(None)
    fetch = fetch_container(pod)
    assert not any(name.startswith(("AWS_", "MODELSERVE_S3_")) for name in env_of(fetch))
    assert not any("projected" in v for v in pod["volumes"])
    assert flag(fetch["command"], "--uri") == URI


def test_a_failed_fetch_explains_itself_in_its_termination_message(pod_of):
    assert fetch_container(pod_of(None))["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_nothing_secret_reaches_args_or_annotations(make_endpoint):
    endpoint = make_endpoint(deployments=[{"name": "blue", "model": {"name": "iris"}}])
    resolved = ResolvedModel.from_model(s3_model({"credentialsSecret": SECRET_NAME}))
    manifest = build_scoring_deployment(
        endpoint, endpoint.spec.deployments[0], resolved, BuilderSettings()
    )
    pod = manifest["spec"]["template"]["spec"]
    args = json.dumps([c.get("command", []) + c.get("args", []) for c in pod["initContainers"]])
    annotations = json.dumps(manifest["spec"]["template"]["metadata"].get("annotations", {}))
    for text in (args, annotations):
        assert SECRET_NAME not in text and "AWS_SECRET_ACCESS_KEY" not in text


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_a_model_takes_s3_settings_only_with_an_s3_uri():
    model = s3_model({"endpointURL": "https://minio.example.com:9000", "roleARN": ROLE})
    assert model.spec.artifact.s3.addressing_style == "auto"
    assert model.spec.artifact.s3.endpoint_url == "https://minio.example.com:9000"
    with pytest.raises(SpecError, match=r"only allowed with an s3:// artifact\.uri"):
        s3_model({"region": "eu-west-1"}, uri="https://example.com/m/model.joblib")


def _models_crd_schema() -> dict:
    crd = yaml.safe_load((ROOT / "crds" / "modelserve.io_models.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["artifact"]


@pytest.mark.parametrize(
    ("uri", "accepted"),
    [
        ("s3://b1c/k", True),
        ("s3://models-prod/churn/v3/model.joblib", True),
        ("s3://my.bucket.example/a/b.pkl", True),
        ("s3://Models/model.joblib", False),  # bucket names are lower case
        ("s3://ab/model.joblib", False),  # at least 3 characters
        ("s3://bucket/", False),  # no key
        ("s3://bucket/dir/", False),  # a prefix, not an object
        ("s3://bucket", False),
        ("s3:///model.joblib", False),
    ],
)
def test_the_crd_pattern_takes_s3_bucket_and_key(uri, accepted):
    pattern = _models_crd_schema()["properties"]["uri"]["pattern"]
    assert bool(re.match(pattern, uri)) is accepted


def test_the_crd_refuses_s3_settings_without_an_s3_uri_and_both_credentials():
    artifact = _models_crd_schema()
    rules = {r["rule"]: r for r in artifact["x-kubernetes-validations"]}
    assert "!has(self.s3) || self.uri.startsWith('s3://')" in rules
    assert "s3" in rules["self.uri.matches('^((pvc|configmap|https?|s3)://|models:/)')"]["message"]
    s3 = artifact["properties"]["s3"]
    assert s3["properties"]["addressingStyle"]["enum"] == ["auto", "path", "virtual"]
    (both,) = s3["x-kubernetes-validations"]
    assert "credentialsSecret" in both["rule"] and "roleARN" in both["rule"]
    # user:password@ in the endpoint would put credentials in the Model
    endpoint = s3["properties"]["endpointURL"]["pattern"]
    assert re.match(endpoint, "http://127.0.0.1:8333")
    assert not re.match(endpoint, "https://key:secret@minio.example.com")
