"""Sample Model and OnlineEndpoint objects as the API server returns them (operator unit tests)."""

from __future__ import annotations

from typing import Any

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


def trained_model(**training: Any) -> dict[str, Any]:
    """Model churn-4, trained by a Job (spec.training), with `training` overriding its spec."""
    spec = {
        "task": "classification",
        "data": {"claimName": "datasets", "path": "churn/2024-06.csv", "target": "churned"},
        "estimator": {"className": "sklearn.linear_model.LogisticRegression", "params": {"C": 0.5}},
        "gate": "accuracy >= 0.88",
    }
    spec.update(training)
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "churn-4", "namespace": "ml", "uid": "m-uid", "generation": 1},
        "spec": {
            "modelName": "churn",
            "version": "4",
            "framework": "sklearn",
            "artifact": {"uri": "pvc://models/churn/4/model.joblib"},
            "training": spec,
        },
    }
