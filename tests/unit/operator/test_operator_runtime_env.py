"""The scoring runtime (auto | sklearn | onnx) reaches the scoring pod as MODELSERVE_RUNTIME."""

from pathlib import Path

import pytest
import yaml
from modelserve_api import SpecError, parse_model, parse_online_endpoint
from modelserve_operator.builders import BuilderSettings, build_scoring_deployment
from modelserve_operator.resolved import ResolvedModel
from operator_bodies import endpoint_body, model_body

ROOT = Path(__file__).resolve().parents[3]


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
