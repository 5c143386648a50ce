"""Typed parsing of the three kinds: examples parse, defaults fill in, errors name the field."""

from pathlib import Path

import pytest
import yaml
from modelserve_api import (
    SpecError,
    parse_batch_deployment,
    parse_model,
    parse_online_endpoint,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PARSERS = {
    "Model": parse_model,
    "OnlineEndpoint": parse_online_endpoint,
    "BatchDeployment": parse_batch_deployment,
}


def _example_documents():
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("apiVersion") == "modelserve.io/v1alpha1":
                yield pytest.param(doc, id=f"{path.parent.name}/{path.name}:{doc['kind']}")


def test_there_are_examples():
    assert len(list(_example_documents())) >= 4


@pytest.mark.parametrize("doc", list(_example_documents()))
def test_examples_parse(doc):
    parsed = PARSERS[doc["kind"]](doc)
    assert parsed.metadata.name == doc["metadata"]["name"]


def test_endpoint_defaults(raw_endpoint):
    endpoint = parse_online_endpoint(raw_endpoint())
    (dep,) = endpoint.spec.deployments
    assert dep.instance_count == 1
    assert dep.request_settings.request_timeout_ms == 5000
    assert dep.probes.liveness.failure_threshold == 30
    assert endpoint.spec.auth_mode == "key"
    assert endpoint.metadata.generation == 3


def test_model_reference_defaults_to_latest(raw_endpoint):
    body = raw_endpoint(deployments=[{"name": "blue", "model": {"name": "iris"}}])
    assert parse_online_endpoint(body).spec.deployments[0].model.follows_latest


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"traffic": {"blue": 60}}, "add up to 100"),
        ({"traffic": {"blue": 100, "ghost": 0}}, "unknown deployments"),
        ({"mirrorTraffic": {"blue": 10}}, "already takes live traffic"),
        (
            {"deployments": [{"name": "blue", "model": {"name": "iris"}}] * 2},
            "unique",
        ),
        ({"authMode": "token"}, "spec.authMode"),
    ],
)
def test_bad_endpoint_is_refused_with_reason(raw_endpoint, overrides, fragment):
    with pytest.raises(SpecError, match=fragment):
        parse_online_endpoint(raw_endpoint(**overrides))


def test_error_names_the_field_path(raw_endpoint):
    body = raw_endpoint(
        deployments=[
            {
                "name": "blue",
                "model": {"name": "iris"},
                "requestSettings": {"requestTimeoutMs": 999999},
            }
        ]
    )
    with pytest.raises(SpecError) as caught:
        parse_online_endpoint(body)
    assert "spec.deployments[0].requestSettings.requestTimeoutMs" in str(caught.value)


def test_model_digest_must_be_hex():
    body = {
        "metadata": {"name": "m"},
        "spec": {
            "modelName": "iris",
            "version": "1",
            "framework": "sklearn",
            "artifact": {"uri": "pvc://models/iris.joblib", "sha256": "not-hex"},
        },
    }
    with pytest.raises(SpecError, match=r"spec\.artifact\.sha256"):
        parse_model(body)


def test_batch_defaults_and_output_path_guard():
    body = {
        "metadata": {"name": "nightly"},
        "spec": {
            "model": {"name": "iris", "version": "1"},
            "input": {"claimName": "data"},
            "output": {"claimName": "results"},
        },
    }
    batch = parse_batch_deployment(body)
    settings = batch.spec.settings
    assert (settings.mini_batch_size, settings.max_retries, settings.error_threshold) == (10, 3, -1)
    assert batch.spec.output.file_name == "predictions.csv"
    body["spec"]["output"]["path"] = "../escape"
    with pytest.raises(SpecError, match=r"spec\.output\.path"):
        parse_batch_deployment(body)
