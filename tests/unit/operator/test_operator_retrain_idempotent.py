"""Retraining twice for one crossing (another replica, a restart) makes one Model, not two."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from modelserve_api import parse_model, parse_online_endpoint
from modelserve_operator.builders.retrain import ANNOTATION_BASE_VERSION, LABEL_RETRAINED_FOR
from modelserve_operator.reconcilers.monitoring import EndpointMonitor, _Check
from operator_bodies import endpoint_body, model_body

TEMPLATE = {
    "task": "classification",
    "data": {"dataset": "iris"},
    "estimator": {"className": "sklearn.linear_model.LogisticRegression"},
    "gate": "accuracy >= 0.8",
}


class FakeKube:
    """Models by name, created at most once; events recorded."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.creates: list[str] = []
        self.events: list[str] = []

    def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        name = manifest["metadata"]["name"]
        self.creates.append(name)
        if name in self.models:
            return None  # 409, as kube.Kube.create reports it
        self.models[name] = copy.deepcopy(manifest)
        return self.models[name]

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict | None:
        return copy.deepcopy(self.models.get(name))

    def emit_event(self, involved: dict, *, reason: str, message: str, event_type: str) -> None:
        self.events.append(reason)


def crossing(kube: FakeKube) -> _Check:
    body = endpoint_body(
        monitoring={
            "enabled": True,
            "retrain": {"template": TEMPLATE, "artifactClaimName": "models"},
        }
    )
    status = {
        "traffic": {"blue": 100},
        "deployments": [{"name": "blue", "modelVersion": "1"}],
    }
    # What this replica listed: version 1 only (the other replica's Model came later).
    return _Check(
        body=body,
        endpoint=parse_online_endpoint(body),
        models=[parse_model(model_body("1"))],
        status=status,
        rolled_out={"blue": True},
        now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        conditions=[],
        retrain={},
    )


def test_a_second_attempt_at_the_same_retrain_adopts_the_first_model():
    kube = FakeKube()
    monitor = EndpointMonitor(kube, lambda *_: {})  # type: ignore[arg-type]
    first, second = crossing(kube), crossing(kube)
    monitor._start_retrain(first, "accuracy below 0.9")
    monitor._start_retrain(second, "accuracy below 0.9")
    assert list(kube.models) == ["iris-2"] and kube.creates == ["iris-2", "iris-2"]
    made = kube.models["iris-2"]["metadata"]
    assert made["labels"][LABEL_RETRAINED_FOR] == "fraud"
    assert made["annotations"][ANNOTATION_BASE_VERSION] == "1"
    for check in (first, second):
        assert check.retrain["model"] == "iris-2" and check.retrain["state"] == "Training"
    assert kube.events == ["RetrainStarted"]


def test_a_model_of_that_name_made_by_someone_else_is_not_adopted():
    kube = FakeKube()
    kube.models["iris-2"] = model_body("2")  # a user's, with no retrain labels
    monitor = EndpointMonitor(kube, lambda *_: {})  # type: ignore[arg-type]
    check = crossing(kube)
    monitor._start_retrain(check, "accuracy below 0.9")
    assert check.retrain["state"] == "Failed"
    assert "exists that this retraining did not make" in check.retrain["message"]
    assert kube.events == ["RetrainFailed"]
