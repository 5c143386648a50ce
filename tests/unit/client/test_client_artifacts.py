"""Where a model file goes, the names it gets, and the Model that registers it."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from modelserve_client import artifacts
from modelserve_client.errors import ModelserveError


def artifact(path: Path, size: int) -> artifacts.ArtifactFile:
    return artifacts.ArtifactFile(path, size, "ab" * 32)


def test_read_artifact_gives_size_and_the_sha256_sha256sum_would(tmp_path):
    path = tmp_path / "model.joblib"
    path.write_bytes(b"x" * 3_000_000)  # more than one read chunk
    found = artifacts.read_artifact(path)
    assert found.size == 3_000_000
    assert found.sha256 == hashlib.sha256(b"x" * 3_000_000).hexdigest()


def test_a_small_file_goes_into_a_configmap_named_after_the_version():
    plan = artifacts.plan_artifact(artifact(Path("/tmp/model.joblib"), 1000), "iris", "1")
    assert plan == artifacts.ArtifactPlan(
        "configmap", "iris-1-artifact", "model.joblib", "configmap://iris-1-artifact/model.joblib"
    )


def test_the_largest_file_that_fits_still_goes_into_a_configmap():
    limit = artifacts.CONFIGMAP_LIMIT_BYTES
    plan = artifacts.plan_artifact(artifact(Path("m.pkl"), limit), "iris", "1")
    assert plan.kind == "configmap"
    with pytest.raises(ModelserveError, match="--pvc CLAIM"):
        artifacts.plan_artifact(artifact(Path("m.pkl"), limit + 1), "iris", "1")


def test_a_claim_is_used_whenever_one_is_given_with_a_per_version_path():
    plan = artifacts.plan_artifact(artifact(Path("model.joblib"), 10), "iris", "2", pvc="models")
    assert plan.kind == "pvc"
    assert plan.uri == "pvc://models/models/iris/2/model.joblib"
    custom = artifacts.plan_artifact(
        artifact(Path("m.joblib"), 10), "iris", "2", pvc="store", pvc_path="a/./b/m.joblib"
    )
    assert custom.uri == "pvc://store/a/b/m.joblib"


@pytest.mark.parametrize("bad", ["/abs/m.joblib", "../m.joblib", "a/../../m.joblib", "."])
def test_a_claim_path_must_stay_inside_the_volume(bad):
    with pytest.raises(ModelserveError, match="relative to the volume's root"):
        artifacts.plan_artifact(artifact(Path("m"), 1), "iris", "1", pvc="c", pvc_path=bad)


def test_a_claim_path_without_a_claim_is_refused():
    with pytest.raises(ModelserveError, match="--pvc-path needs --pvc"):
        artifacts.plan_artifact(artifact(Path("m"), 1), "iris", "1", pvc_path="a/m")


@pytest.mark.parametrize(
    ("file_name", "key"),
    [("model.joblib", "model.joblib"), ("my model (v2).pkl", "my-model--v2-.pkl"), ("..", "model")],
)
def test_configmap_keys_are_usable_names(file_name, key):
    assert artifacts.configmap_key(Path(file_name)) == key


@pytest.mark.parametrize(
    ("name", "version", "object_name"),
    [
        ("iris", "1", "iris-1"),
        ("iris", "2024-06-01", "iris-2024-06-01"),
        ("iris", "V2_b", "iris-v2-b"),
    ],
)
def test_model_object_names(name, version, object_name):
    assert artifacts.model_object_name(name, version) == object_name


@pytest.mark.parametrize("version", ["1", "1.0.2", "2024-06-01", "v2_final", "A"])
def test_good_versions_pass(version):
    artifacts.check_version(version)


@pytest.mark.parametrize("version", ["latest", "", "-1", "1.", "a b", "x" * 64])
def test_bad_versions_say_what_a_version_may_be(version):
    with pytest.raises(ModelserveError) as error:
        artifacts.check_version(version)
    assert error.value.fix  # every refusal says what to do


@pytest.mark.parametrize("name", ["Iris", "iris_model", "-iris", "x" * 64, ""])
def test_bad_model_names(name):
    with pytest.raises(ModelserveError, match="not a DNS label"):
        artifacts.check_model_name(name)


def test_the_model_manifest_carries_uri_digest_and_labels():
    plan = artifacts.plan_artifact(artifact(Path("model.joblib"), 10), "iris", "3")
    model = artifacts.build_model("iris", "3", plan, "cd" * 32, description="v3", tags={"run": "7"})
    assert model["apiVersion"] == "modelserve.io/v1alpha1" and model["kind"] == "Model"
    assert model["metadata"]["name"] == "iris-3"
    assert model["metadata"]["labels"]["modelserve.io/model-version"] == "3"
    assert model["spec"] == {
        "modelName": "iris",
        "version": "3",
        "framework": "sklearn",
        "artifact": {"uri": "configmap://iris-3-artifact/model.joblib", "sha256": "cd" * 32},
        "description": "v3",
        "tags": {"run": "7"},
    }


def test_the_artifact_configmap_holds_the_bytes_under_the_planned_key():
    plan = artifacts.plan_artifact(artifact(Path("model.joblib"), 10), "iris", "3")
    config_map = artifacts.build_artifact_configmap(plan, "AAEC", "iris", "3")
    assert config_map["metadata"]["name"] == "iris-3-artifact"
    assert config_map["binaryData"] == {"model.joblib": "AAEC"}


def test_registering_bytes_gives_the_configmap_and_model_a_file_registration_would(tmp_path):
    payload = bytes(range(256)) * 4
    config_map, model = artifacts.configmap_registration(payload, "churn", "2", "m.pkl", "xgboost")
    assert base64.b64decode(config_map["binaryData"]["m.pkl"]) == payload
    file = tmp_path / "m.pkl"
    file.write_bytes(payload)
    plan = artifacts.plan_artifact(artifacts.read_artifact(file), "churn", "2")
    digest = hashlib.sha256(payload).hexdigest()
    assert model == artifacts.build_model("churn", "2", plan, digest, "xgboost")
    assert config_map == artifacts.build_artifact_configmap(
        plan, config_map["binaryData"]["m.pkl"], "churn", "2"
    )


def test_registering_bytes_refuses_what_the_command_refuses():
    with pytest.raises(ModelserveError, match="not a DNS label"):
        artifacts.configmap_registration(b"x", "Churn Model", "1")
    with pytest.raises(ModelserveError, match="version 'latest' is reserved"):
        artifacts.configmap_registration(b"x", "churn", "latest")
    with pytest.raises(ModelserveError, match="--pvc CLAIM"):
        artifacts.configmap_registration(b"x" * (artifacts.CONFIGMAP_LIMIT_BYTES + 1), "c", "1")


def test_pairs_parse_and_an_item_without_equals_names_the_option():
    assert artifacts.parse_pairs(["a=1", "b=x=y", "c="], "--tag") == {"a": "1", "b": "x=y", "c": ""}
    assert artifacts.parse_pairs(None, "--tag") == {}
    with pytest.raises(ModelserveError, match="--node-selector '=x' is not KEY=VALUE"):
        artifacts.parse_pairs(["=x"], "--node-selector")
