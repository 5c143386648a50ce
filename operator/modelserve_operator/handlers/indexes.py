"""Kopf indexes: which endpoints, batch deployments and Models a Model event concerns.

Without them every Model event listed every OnlineEndpoint and BatchDeployment of its
namespace from the API server. Kopf keeps these in memory from the watches it already
runs, and hands them to the handlers that name them as arguments.
"""

from __future__ import annotations

from typing import Any

import kopf
from modelserve_api import constants as c

# A Model's name as endpoints and batch deployments refer to it.
ModelRef = tuple[str, str]  # (namespace, spec.modelName)


@kopf.index(c.GROUP, c.VERSION, c.PLURAL_ONLINE_ENDPOINTS)
def endpoints_by_model(
    namespace: str, name: str, spec: dict[str, Any], **_: Any
) -> dict[ModelRef, str]:
    """OnlineEndpoint names under every model name one of its deployments serves."""
    deployments = spec.get("deployments") or []
    models = {(d.get("model") or {}).get("name") for d in deployments}
    return {(namespace, model): name for model in models if model}


@kopf.index(c.GROUP, c.VERSION, c.PLURAL_BATCH_DEPLOYMENTS)
def batch_deployments_by_model(
    namespace: str, name: str, spec: dict[str, Any], **_: Any
) -> dict[ModelRef, str]:
    """BatchDeployment names under the model name they run."""
    model = (spec.get("model") or {}).get("name")
    return {(namespace, model): name} if model else {}


@kopf.index(c.GROUP, c.VERSION, c.PLURAL_MODELS)
def models_by_version(
    namespace: str, name: str, spec: dict[str, Any], **_: Any
) -> dict[tuple[str, str, str], str]:
    """Model object names under (namespace, modelName, version), as pod labels name them."""
    return {(namespace, str(spec.get("modelName")), str(spec.get("version"))): name}


def named(index: kopf.Index, key: object) -> set[str]:
    """The names an index holds under `key` (none if it holds nothing there)."""
    return set(index.get(key, ()))
