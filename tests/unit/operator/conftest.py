"""Fixtures for the operator unit tests: sample custom resources as the API returns them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from modelserve_operator.api import ResolvedModel, parse_model, parse_online_endpoint

SHA = "ab" * 32


def model_body(version: str = "1", uri: str = "pvc://models/iris/model.joblib") -> dict[str, Any]:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": f"iris-{version}", "namespace": "ml", "uid": "m-uid", "generation": 1},
        "spec": {
            "modelName": "iris",
            "version": version,
            "framework": "sklearn",
            "artifact": {"uri": uri, "sha256": SHA},
        },
    }


def endpoint_body(**spec_overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "authMode": "key",
        "traffic": {"blue": 100},
        "deployments": [{"name": "blue", "model": {"name": "iris", "version": "1"}}],
    }
    spec.update(spec_overrides)
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "fraud", "namespace": "ml", "uid": "oe-uid", "generation": 3},
        "spec": spec,
    }


@pytest.fixture
def make_endpoint():
    def make(**spec_overrides: Any):
        return parse_online_endpoint(copy.deepcopy(endpoint_body(**spec_overrides)))

    return make


@pytest.fixture
def make_resolved():
    def make(version: str = "1", uri: str = "pvc://models/iris/model.joblib") -> ResolvedModel:
        return ResolvedModel.from_model(parse_model(model_body(version, uri)))

    return make


@pytest.fixture
def sha256() -> str:
    return SHA


@pytest.fixture
def raw_endpoint():
    return lambda **spec_overrides: copy.deepcopy(endpoint_body(**spec_overrides))
