"""The API server itself refuses invalid modelserve.io objects, naming the field; samples pass."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
CRD_NAMES = (
    "models.modelserve.io",
    "onlineendpoints.modelserve.io",
    "batchdeployments.modelserve.io",
)
SHA = "ab" * 32
# An alias the operator keeps following, looked up every 30 s.
FOLLOWED = {"trackingURI": "http://m:5000", "followAlias": True, "pollSeconds": 30}


@pytest.fixture(scope="module")
def crds(cluster):
    """The CRDs applied and served (discovery knows the kinds)."""
    cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=crd-tests",
        "-f",
        str(CRD_DIR),
    )
    for name in CRD_NAMES:
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")
    for plural in ("models", "onlineendpoints", "batchdeployments"):
        cluster.wait_for(
            lambda plural=plural: cluster.kubectl("get", plural, "-A", check=False).returncode == 0,
            f"{plural} to be served",
        )
    return cluster


def model(**spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "iris-1"},
        "spec": {
            "modelName": "iris",
            "version": "1",
            "framework": "sklearn",
            "artifact": {"uri": "pvc://models/iris/model.joblib", "sha256": SHA},
        },
    }
    body["spec"].update(spec)
    return body


def endpoint(name: str = "fraud", **spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": name},
        "spec": {
            "traffic": {"blue": 100},
            "deployments": [
                {"name": "blue", "model": {"name": "iris", "version": "1"}},
                {"name": "green", "model": {"name": "iris", "version": "2"}},
            ],
        },
    }
    body["spec"].update(spec)
    return body


def batch(**spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "BatchDeployment",
        "metadata": {"name": "nightly"},
        "spec": {
            "model": {"name": "iris", "version": "1"},
            "input": {"claimName": "data", "glob": "incoming/*.csv"},
            "output": {"claimName": "results", "path": "scored"},
            "schedule": "0 2 * * *",
        },
    }
    body["spec"].update(spec)
    return body


def deployment_with(**fields: Any) -> list[dict[str, Any]]:
    first = {"name": "blue", "model": {"name": "iris"}}
    first.update(fields)
    return [first]


def submit(cluster, namespace: str, body: dict[str, Any], *, dry_run: bool = True):
    args = ["create", "-n", namespace, "-f", "-"]
    if dry_run:
        args.append("--dry-run=server")
    return cluster.kubectl(*args, input_text=json.dumps(body), check=False)


INVALID = [
    ("traffic-sum", endpoint(traffic={"blue": 60, "green": 30}), "spec.traffic", "add up to 100"),
    ("traffic-unknown", endpoint(traffic={"blue": 90, "red": 10}), "spec.traffic", "not listed"),
    ("traffic-over-100", endpoint(traffic={"blue": 101}), "spec.traffic.blue", "100"),
    (
        "mirror-two",
        endpoint(traffic={"blue": 100}, mirrorTraffic={"green": 10, "blue": 5}),
        "spec.mirrorTraffic",
        "",
    ),
    (
        "mirror-over-50",
        endpoint(traffic={"blue": 100}, mirrorTraffic={"green": 60}),
        "spec.mirrorTraffic.green",
        "50",
    ),
    (
        "mirror-to-live",
        endpoint(traffic={"blue": 50, "green": 50}, mirrorTraffic={"green": 10}),
        "spec.mirrorTraffic",
        "no live traffic",
    ),
    (
        "mirror-unknown",
        endpoint(traffic={"blue": 100}, mirrorTraffic={"red": 10}),
        "spec.mirrorTraffic",
        "not listed",
    ),
    (
        "duplicate-deployments",
        endpoint(
            traffic={"blue": 100},
            deployments=[{"name": "blue", "model": {"name": "a"}}] * 2,
        ),
        "spec.deployments[1]",
        "Duplicate",
    ),
    (
        "deployment-name-pattern",
        endpoint(traffic={}, deployments=deployment_with(name="Blue_1")),
        "spec.deployments[0].name",
        "",
    ),
    (
        "deployment-name-length",
        endpoint(traffic={}, deployments=deployment_with(name="b" * 23)),
        "spec.deployments[0].name",
        "",
    ),
    (
        "request-timeout",
        endpoint(
            traffic={}, deployments=deployment_with(requestSettings={"requestTimeoutMs": 180001})
        ),
        "spec.deployments[0].requestSettings.requestTimeoutMs",
        "",
    ),
    ("router-replicas-0", endpoint(router={"replicas": 0}), "spec.router.replicas", ""),
    ("router-replicas-11", endpoint(router={"replicas": 11}), "spec.router.replicas", ""),
    (
        "autoscale-bounds",
        endpoint(
            traffic={}, deployments=deployment_with(autoscale={"minReplicas": 5, "maxReplicas": 2})
        ),
        "spec.deployments[0].autoscale.minReplicas",
        "must not exceed",
    ),
    (
        "reserved-env",
        endpoint(
            traffic={},
            deployments=deployment_with(env=[{"name": "MODELSERVE_HTTP_PORT", "value": "1"}]),
        ),
        "spec.deployments[0].env[0].name",
        "set by the operator",
    ),
    ("auth-mode", endpoint(authMode="token"), "spec.authMode", "Unsupported value"),
    ("endpoint-name-length", endpoint(name="e" * 41), "metadata.name", "at most 40 characters"),
    ("endpoint-name-dots", endpoint(name="fraud.v2"), "metadata.name", "DNS labels"),
    (
        "sha256-short",
        model(artifact={"uri": "pvc://m/a.joblib", "sha256": "abc"}),
        "spec.artifact.sha256",
        "",
    ),
    (
        "sha256-not-hex",
        model(artifact={"uri": "pvc://m/a.joblib", "sha256": "z" * 64}),
        "spec.artifact.sha256",
        "",
    ),
    (
        "uri-scheme",
        model(artifact={"uri": "ftp://host/a.joblib", "sha256": SHA}),
        "spec.artifact.uri",
        "pvc://",
    ),
    (
        "uri-parent",
        model(artifact={"uri": "pvc://models/../secrets/a.joblib", "sha256": SHA}),
        "spec.artifact.uri",
        "..",
    ),
    (
        "s3-settings-without-s3-uri",
        model(
            artifact={
                "uri": "https://example.com/iris/model.joblib",
                "sha256": SHA,
                "s3": {"region": "eu-west-1"},
            }
        ),
        "spec.artifact.s3",
        "only allowed with an s3:// artifact.uri",
    ),
    (
        "s3-secret-and-role",
        model(
            artifact={
                "uri": "s3://models/iris/model.joblib",
                "sha256": SHA,
                "s3": {
                    "credentialsSecret": "reader",
                    "roleARN": "arn:aws:iam::123456789012:role/reader",
                },
            }
        ),
        "spec.artifact.s3",
        "not both",
    ),
    (
        "s3-endpoint-with-credentials",
        model(
            artifact={
                "uri": "s3://models/iris/model.joblib",
                "sha256": SHA,
                "s3": {"endpointURL": "https://key:secret@minio.example.com"},
            }
        ),
        "spec.artifact.s3.endpointURL",
        "",
    ),
    (
        "s3-bucket-upper-case",
        model(artifact={"uri": "s3://Models/iris/model.joblib", "sha256": SHA}),
        "spec.artifact.uri",
        "",
    ),
    (
        "mlflow-without-settings",
        model(artifact={"uri": "models:/churn@champion"}),
        "spec.artifact.mlflow",
        "needs artifact.mlflow",
    ),
    (
        "mlflow-settings-without-models-uri",
        model(
            artifact={
                "uri": "s3://models/iris/model.joblib",
                "sha256": SHA,
                "mlflow": {"trackingURI": "http://mlflow.mlops.svc:5000"},
            }
        ),
        "spec.artifact.mlflow",
        "only allowed with a models:/",
    ),
    (
        "mlflow-no-version-or-alias",
        model(artifact={"uri": "models:/churn", "mlflow": {"trackingURI": "http://m:5000"}}),
        "spec.artifact.uri",
        "",
    ),
    (
        "mlflow-tracking-uri-with-credentials",
        model(artifact={"uri": "models:/churn/3", "mlflow": {"trackingURI": "http://u:p@m:5000"}}),
        "spec.artifact.mlflow.trackingURI",
        "",
    ),
    (
        "mlflow-follow-a-version",
        model(
            artifact={
                "uri": "models:/churn/3",
                "mlflow": {"trackingURI": "http://m:5000", "followAlias": True},
            }
        ),
        "spec.artifact.mlflow.followAlias",
        "needs a models:/<name>@<alias>",
    ),
    (
        "mlflow-follow-with-digest",
        model(
            artifact={
                "uri": "models:/churn@champion",
                "sha256": SHA,
                "mlflow": {"trackingURI": "http://m:5000", "followAlias": True},
            }
        ),
        "spec.artifact.mlflow.followAlias",
        "no artifact.sha256",
    ),
    (
        "mlflow-poll-too-often",
        model(
            artifact={
                "uri": "models:/churn@champion",
                "mlflow": {"trackingURI": "http://m:5000", "followAlias": True, "pollSeconds": 1},
            }
        ),
        "spec.artifact.mlflow.pollSeconds",
        "",
    ),
    (
        "sha256-left-out-outside-mlflow",
        model(artifact={"uri": "s3://models/iris/model.joblib"}),
        "spec.artifact.sha256",
        "models:/",
    ),
    ("version-latest", model(version="latest"), "spec.version", "reserved"),
    ("framework", model(framework="torch"), "spec.framework", "Unsupported value"),
    ("mini-batch", batch(settings={"miniBatchSize": 0}), "spec.settings.miniBatchSize", ""),
    ("instances", batch(settings={"instanceCount": 0}), "spec.settings.instanceCount", ""),
    ("retries", batch(settings={"maxRetries": -1}), "spec.settings.maxRetries", ""),
    ("error-threshold", batch(settings={"errorThreshold": -2}), "spec.settings.errorThreshold", ""),
    (
        "output-parent",
        batch(output={"claimName": "results", "path": "../elsewhere"}),
        "spec.output.path",
        "relative inside the volume",
    ),
    (
        "output-absolute",
        batch(output={"claimName": "results", "path": "/etc"}),
        "spec.output.path",
        "relative inside the volume",
    ),
    ("schedule", batch(schedule="every night"), "spec.schedule", ""),
]


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [pytest.param(body, field, fragment, id=case) for case, body, field, fragment in INVALID],
)
def test_api_server_refuses_invalid_object(crds, namespace, body, field, fragment):
    result = submit(crds, namespace, copy.deepcopy(body))
    assert result.returncode != 0, f"the API server accepted an invalid object: {result.stdout}"
    assert field in result.stderr, result.stderr
    assert fragment in result.stderr, result.stderr


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(model(), id="model"),
        pytest.param(endpoint(), id="endpoint"),
        pytest.param(
            endpoint(traffic={"blue": 100, "green": 0}, mirrorTraffic={"green": 20}),
            id="endpoint-mirror",
        ),
        pytest.param(endpoint(traffic={"blue": 0, "green": 0}), id="endpoint-zero-traffic"),
        pytest.param(endpoint(router={"replicas": 3}), id="endpoint-three-routers"),
        pytest.param(batch(), id="batch"),
        pytest.param(
            model(artifact={"uri": "configmap://iris-model/model.joblib", "sha256": SHA}),
            id="model-configmap",
        ),
        pytest.param(
            model(artifact={"uri": "https://example.com/iris/model.joblib", "sha256": SHA.upper()}),
            id="model-https",
        ),
        pytest.param(model(artifact={"uri": "s3://b1c/k", "sha256": SHA}), id="model-s3"),
        pytest.param(
            model(
                artifact={
                    "uri": "s3://models-prod/churn/3/model.joblib",
                    "sha256": SHA,
                    "s3": {
                        "endpointURL": "http://seaweedfs.storage.svc:8333",
                        "region": "us-east-1",
                        "addressingStyle": "path",
                        "credentialsSecret": "churn-s3-reader",
                    },
                }
            ),
            id="model-s3-settings",
        ),
        pytest.param(
            model(
                artifact={
                    "uri": "models:/churn@champion",
                    "mlflow": {
                        "trackingURI": "http://mlflow.mlops.svc:5000",
                        "credentialsSecret": "mlflow-reader",
                    },
                }
            ),
            id="model-mlflow-alias",
        ),
        pytest.param(
            model(artifact={"uri": "models:/churn@champion", "mlflow": FOLLOWED}),
            id="model-mlflow-follow-alias",
        ),
        pytest.param(
            model(
                artifact={
                    "uri": "models:/churn/3",
                    "sha256": SHA,
                    "mlflow": {"trackingURI": "https://mlflow.example.com/tracking"},
                }
            ),
            id="model-mlflow-version-with-digest",
        ),
    ],
)
def test_api_server_accepts_valid_object(crds, namespace, body):
    result = submit(crds, namespace, body)
    assert result.returncode == 0, result.stderr


def test_examples_pass_server_side_validation(crds, namespace):
    folders = sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir())
    # Kustomizations and patches are not objects (tests/e2e/test_readmes.py
    # applies them the way their READMEs say).
    manifests = [
        f
        for folder in folders
        for f in sorted(folder.glob("*.yaml"))
        if f.name != "kustomization.yaml" and not f.stem.endswith("-patch")
    ]
    assert manifests, "no example manifests found"
    for path in manifests:
        result = crds.kubectl(
            "apply", "-n", namespace, "--dry-run=server", "-f", str(path), check=False
        )
        assert result.returncode == 0, f"{path.relative_to(ROOT)}: {result.stderr}"


def test_defaults_are_applied(crds, namespace):
    body = endpoint(traffic={"blue": 100}, deployments=deployment_with())
    submit(crds, namespace, body, dry_run=False).check_returncode()
    stored = json.loads(
        crds.kubectl("get", "onlineendpoint", "fraud", "-n", namespace, "-o", "json").stdout
    )
    spec = stored["spec"]
    assert spec["authMode"] == "key"
    (dep,) = spec["deployments"]
    assert dep["model"]["version"] == "latest"
    assert dep["instanceCount"] == 1
    assert dep["requestSettings"]["requestTimeoutMs"] == 5000
    assert dep["probes"]["readiness"]["periodSeconds"] == 1
    assert dep["dataCollector"] == {"enabled": False, "samplingRate": 1}

    submit(crds, namespace, batch(), dry_run=False).check_returncode()
    stored = json.loads(crds.kubectl("get", "bd", "nightly", "-n", namespace, "-o", "json").stdout)
    assert stored["spec"]["settings"] == {
        "miniBatchSize": 10,
        "instanceCount": 1,
        "maxConcurrencyPerInstance": 1,
        "maxRetries": 3,
        "retryTimeoutSeconds": 300,
        "errorThreshold": -1,
        "loggingLevel": "info",
    }
    assert stored["spec"]["output"]["fileName"] == "predictions.csv"
    assert stored["spec"]["output"]["action"] == "appendRow"


def test_model_spec_is_immutable(crds, namespace):
    submit(crds, namespace, model(), dry_run=False).check_returncode()
    result = crds.kubectl(
        "patch", "model", "iris-1", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"version": "2"}}), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "immutable" in result.stderr
    # Labels and annotations stay editable.
    crds.kubectl("label", "model", "iris-1", "-n", namespace, "stage=production")


def test_explain_teaches_the_api(crds):
    text = crds.kubectl("explain", "onlineendpoint.spec.deployments").stdout
    assert "Deployments of a model behind this endpoint" in text
    for field in ("requestSettings", "autoscale", "instanceCount", "scoringScript"):
        assert field in text
    text = crds.kubectl("explain", "model.spec.artifact.sha256").stdout
    assert "verified" in text


def test_short_names_and_category(crds, namespace):
    submit(crds, namespace, endpoint(), dry_run=False).check_returncode()
    assert "fraud" in crds.kubectl("get", "oe", "-n", namespace).stdout
    listed = crds.kubectl("get", "modelserve", "-n", namespace, "-o", "name").stdout
    assert "onlineendpoint.modelserve.io/fraud" in listed


def test_builder_manifests_pass_server_side_validation(crds, namespace):
    """Every child manifest the builders emit is a valid object for this API server."""
    from modelserve_api import parse_model, parse_online_endpoint
    from modelserve_operator.builders import (
        BuilderSettings,
        build_hpa,
        build_keys_secret,
        build_pdb,
        build_router_configmap,
        build_router_deployment,
        build_router_pdb,
        build_router_service,
        build_scoring_deployment,
        build_scoring_service,
    )
    from modelserve_operator.resolved import ResolvedModel

    body = endpoint(
        router={"replicas": 2},
        deployments=[
            {"name": "blue", "model": {"name": "iris", "version": "1"}, "instanceCount": 2},
            {
                "name": "green",
                "model": {"name": "iris", "version": "1"},
                "autoscale": {"maxReplicas": 3},
                "scoringScript": {"configMap": "score"},
                "env": [{"name": "OMP_NUM_THREADS", "value": "1"}],
            },
        ],
    )
    body["metadata"]["namespace"] = namespace
    parsed = parse_online_endpoint(body)
    resolved = ResolvedModel.from_model(parse_model(model()))
    settings = BuilderSettings()
    manifests = [
        build_router_deployment(parsed, "0123abcd", settings),
        build_router_service(parsed),
        build_router_pdb(parsed),
        build_router_configmap(parsed, "events {}\n"),
        build_keys_secret(parsed, "primary", "secondary", "map {}\n"),
    ]
    for dep in parsed.spec.deployments:
        manifests += [
            build_scoring_deployment(parsed, dep, resolved, settings),
            build_scoring_service(parsed, dep, resolved),
            build_pdb(parsed, dep, resolved),
        ]
        hpa = build_hpa(parsed, dep, resolved)
        if hpa is not None:
            manifests.append(hpa)
    for manifest in manifests:
        result = crds.kubectl(
            "create", "--dry-run=server", "-f", "-", input_text=json.dumps(manifest), check=False
        )
        assert result.returncode == 0, f"{manifest['kind']}: {result.stderr}"
