"""The scoring runtime, framework and library-version policy reach the scoring pod's env."""

from pathlib import Path

import pytest
import yaml
from modelserve_api import SpecError, parse_model, parse_online_endpoint
from modelserve_operator.builders import BuilderSettings, build_scoring_deployment
from modelserve_operator.resolved import ResolvedModel
from operator_bodies import endpoint_body, model_body

ROOT = Path(__file__).resolve().parents[3]


def _server_env(model: dict, deployment: dict | None = None) -> dict[str, str]:
    deployment = deployment or {"name": "blue", "model": {"name": "iris", "version": "1"}}
    endpoint = parse_online_endpoint(endpoint_body(deployments=[deployment]))
    resolved = ResolvedModel.from_model(parse_model(model))
    manifest = build_scoring_deployment(
        endpoint, endpoint.spec.deployments[0], resolved, BuilderSettings()
    )
    (server,) = manifest["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in server["env"]}


def _runtime_env(model_runtime=None, deployment_runtime=None) -> str:
    model = model_body()
    if model_runtime is not None:
        model["spec"]["runtime"] = model_runtime
    deployment = {"name": "blue", "model": {"name": "iris", "version": "1"}}
    if deployment_runtime is not None:
        deployment["runtime"] = deployment_runtime
    endpoint = parse_online_endpoint(endpoint_body(deployments=[deployment]))
    resolved = ResolvedModel.from_model(parse_model(model))
    manifest = build_scoring_deployment(
        endpoint, endpoint.spec.deployments[0], resolved, BuilderSettings()
    )
    (server,) = manifest["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in server["env"]}["MODELSERVE_RUNTIME"]


def test_framework_and_library_version_policy_reach_the_pod():
    # A plain scikit-learn Model under the default policy gets the pod template older
    # operators gave it (no new variables): upgrading the operator rolls none of its pods.
    defaults = _server_env(model_body())
    assert "MODELSERVE_FRAMEWORK" not in defaults
    assert "MODELSERVE_LIBRARY_VERSION_POLICY" not in defaults
    model = model_body()
    model["spec"].update(framework="xgboost", libraryVersionPolicy="strict")
    env = _server_env(model)
    assert env["MODELSERVE_FRAMEWORK"] == "xgboost"
    assert env["MODELSERVE_LIBRARY_VERSION_POLICY"] == "strict"


def test_an_unknown_library_version_policy_is_refused_by_field():
    model = model_body()
    model["spec"]["libraryVersionPolicy"] = "lenient"
    with pytest.raises(SpecError, match=r"libraryVersionPolicy|library_version_policy"):
        parse_model(model)


def test_runtime_defaults_to_auto():
    assert _runtime_env() == "auto"


@pytest.mark.parametrize("runtime", ["sklearn", "onnx"])
def test_the_models_runtime_reaches_the_pod(runtime):
    assert _runtime_env(model_runtime=runtime) == runtime


def test_a_deployments_runtime_overrides_the_models():
    assert _runtime_env(model_runtime="sklearn", deployment_runtime="onnx") == "onnx"
    assert _runtime_env(model_runtime="onnx", deployment_runtime="auto") == "auto"


def test_an_unknown_deployment_runtime_is_refused_by_field():
    deployment = {"name": "blue", "model": {"name": "iris"}, "runtime": "tensorrt"}
    with pytest.raises(SpecError, match=r"deployments\.0\.runtime|deployments\[0\]\.runtime"):
        parse_online_endpoint(endpoint_body(deployments=[deployment]))


def test_crd_offers_the_same_runtimes_at_both_levels_without_a_deployment_default():
    def spec_of(name):
        crd = yaml.safe_load((ROOT / "crds" / name).read_text())
        return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]

    model = spec_of("modelserve.io_models.yaml")["properties"]["runtime"]
    endpoint = spec_of("modelserve.io_onlineendpoints.yaml")
    deployment = endpoint["properties"]["deployments"]["items"]["properties"]["runtime"]
    assert deployment["enum"] == model["enum"] == ["auto", "sklearn", "onnx"]
    # unset must mean "the Model's runtime", so the deployment level has no default
    assert "default" not in deployment
    assert "spec.runtime" in deployment["description"]
