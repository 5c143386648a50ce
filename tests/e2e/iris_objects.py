"""The iris endpoint several e2e files serve: its Model (artifact in a ConfigMap) and spec."""

from __future__ import annotations

import io
from typing import Any

import joblib
from cluster_objects import configmap_model
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

ENDPOINT = "iris"
MODEL_NAME = "iris"
MODEL_VERSION = "1"
DEPLOYMENT = "blue"
# Small requests: every pod of the run shares the node's two cores.
SMALL_RESOURCES = {"requests": {"cpu": "50m", "memory": "192Mi"}}


def iris_artifact() -> bytes:
    """A fitted iris classifier, as the file a user registers (joblib)."""
    x, y = load_iris(return_X_y=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), buffer)
    return buffer.getvalue()


def iris_model() -> list[dict[str, Any]]:
    """A fitted iris classifier as the ConfigMap and Model `iris-1`."""
    return configmap_model(iris_artifact())


def iris_endpoint(auth_mode: str, network: dict[str, Any] | None = None) -> dict[str, Any]:
    """Endpoint `iris`: one pod of deployment `blue` serving iris 1, all the traffic."""
    spec: dict[str, Any] = {
        "authMode": auth_mode,
        "traffic": {DEPLOYMENT: 100},
        "deployments": [
            {
                "name": DEPLOYMENT,
                "model": {"name": MODEL_NAME, "version": MODEL_VERSION},
                "instanceCount": 1,
                "resources": SMALL_RESOURCES,
            }
        ],
    }
    if network is not None:
        spec["network"] = network
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": ENDPOINT},
        "spec": spec,
    }
