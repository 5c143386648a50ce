"""modelserve's contracts: the custom resources' types, constants, conditions, and the JSON the
components exchange (training spec and report, baseline, monitoring and runtime reports).

The operator, the scoring image and the client import this package and never each other.
The types load on first use, so a command that needs only the constants (the client's)
does not pay for building every pydantic model.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it
_EXPORTS = {
    "Artifact": "model",
    "Autoscale": "online_endpoint",
    "BatchDeployment": "batch_deployment",
    "BatchDeploymentSpec": "batch_deployment",
    "BatchDeploymentStatus": "batch_deployment",
    "EndpointDeployment": "online_endpoint",
    "Model": "model",
    "ModelReference": "common",
    "ModelSpec": "model",
    "ModelStatus": "model",
    "ObjectMeta": "common",
    "OnlineEndpoint": "online_endpoint",
    "OnlineEndpointSpec": "online_endpoint",
    "OnlineEndpointStatus": "online_endpoint",
    "ScoringScript": "common",
    "SpecError": "common",
    "TrainingSpec": "training",
    "TrainingStatus": "training",
    "parse_batch_deployment": "batch_deployment",
    "parse_model": "model",
    "parse_online_endpoint": "online_endpoint",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
