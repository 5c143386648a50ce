"""Operator-wide pod placement and how `model: {name, version}` resolves to a Model."""

from __future__ import annotations

import pytest
from modelserve_api import parse_model
from modelserve_api.common import ModelReference
from modelserve_operator.builders import (
    BuilderSettings,
    build_router_deployment,
    build_scoring_deployment,
)
from modelserve_operator.reconcilers.model_resolution import ModelNotResolved, resolve_model
from modelserve_operator.settings import OperatorSettings


def _model(version: str, ready: bool, reason: str = "ArtifactVerified"):
    body = {
        "metadata": {"name": f"iris-{version}", "namespace": "ml"},
        "spec": {
            "modelName": "iris",
            "version": version,
            "framework": "sklearn",
            "artifact": {"uri": "pvc://models/iris/model.joblib", "sha256": "ab" * 32},
        },
    }
    body["status"] = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": reason,
                "message": "",
                "lastTransitionTime": "2026-11-27T00:00:00Z",
            }
        ]
    }
    return parse_model(body)


def test_node_selector_setting_places_scoring_and_router_pods(make_endpoint, make_resolved):
    settings = OperatorSettings.from_env(
        {"MODELSERVE_NODE_SELECTOR": "kubernetes.io/hostname=gpu-1, pool=inference"}
    ).builder
    endpoint = make_endpoint()
    scoring = build_scoring_deployment(
        endpoint, endpoint.spec.deployments[0], make_resolved(), settings
    )
    router = build_router_deployment(endpoint, "hash", settings)
    wanted = {"kubernetes.io/hostname": "gpu-1", "pool": "inference"}
    assert scoring["spec"]["template"]["spec"]["nodeSelector"] == wanted
    assert router["spec"]["template"]["spec"]["nodeSelector"] == wanted


def test_no_node_selector_by_default(make_endpoint, make_resolved):
    endpoint = make_endpoint()
    scoring = build_scoring_deployment(
        endpoint, endpoint.spec.deployments[0], make_resolved(), BuilderSettings()
    )
    assert "nodeSelector" not in scoring["spec"]["template"]["spec"]


def test_malformed_node_selector_is_refused_with_the_variable_named():
    with pytest.raises(ValueError, match="MODELSERVE_NODE_SELECTOR"):
        OperatorSettings.from_env({"MODELSERVE_NODE_SELECTOR": "pool"})


def test_latest_is_the_highest_ready_version_numerically():
    models = [_model("2", True), _model("10", True), _model("11", False), _model("9", True)]
    resolved = resolve_model(ModelReference(name="iris", version="latest"), models)
    assert resolved.version == "10"


def test_exact_version_that_is_not_ready_names_the_models_reason():
    models = [_model("1", False, reason="DigestMismatch")]
    with pytest.raises(ModelNotResolved, match="DigestMismatch"):
        resolve_model(ModelReference(name="iris", version="1"), models)


def test_unknown_version_lists_the_known_ones():
    models = [_model("1", True), _model("2", True)]
    with pytest.raises(ModelNotResolved, match=r"known: 1, 2"):
        resolve_model(ModelReference(name="iris", version="3"), models)
