"""Fixtures for the operator unit tests: sample custom resources as the API returns them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from modelserve_api import parse_model, parse_online_endpoint
from modelserve_operator.resolved import ResolvedModel
from operator_bodies import SHA, endpoint_body, model_body


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
