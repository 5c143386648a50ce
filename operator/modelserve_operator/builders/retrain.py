"""What retraining creates: the next Model version, and the deployment that promotes it."""

from __future__ import annotations

import copy
from typing import Any

from modelserve_api import constants as c
from modelserve_api.monitoring import Retrain

# A retrained Model names the endpoint it was made for and the version it replaces, so
# an operator that restarts between creating it and recording it finds it again.
LABEL_RETRAINED_FOR = f"{c.GROUP}/retrained-for"
ANNOTATION_BASE_VERSION = f"{c.GROUP}/retrained-from-version"
MAX_OBJECT_NAME = 63


def retrained_model_name(model_name: str, version: str) -> str:
    """Name of the Model object of a retrained version: ``<modelName>-<version>``."""
    name = f"{model_name}-{version}"
    if len(name) > MAX_OBJECT_NAME:
        name = f"{model_name[: MAX_OBJECT_NAME - len(version) - 1].rstrip('-.')}-{version}"
    return name


def retrained_artifact_uri(claim: str, model_name: str, version: str) -> str:
    """Where the trainer writes the retrained artifact."""
    return f"pvc://{claim}/{model_name}/{version}/model.joblib"


def build_retrained_model(
    *,
    namespace: str,
    endpoint: str,
    model_name: str,
    version: str,
    base_version: str,
    claim: str,
    framework: str,
    retrain: Retrain,
    reason: str,
) -> dict[str, Any]:
    """The Model that trains the next version from the retrain template."""
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_MODEL,
        "metadata": {
            "name": retrained_model_name(model_name, version),
            "namespace": namespace,
            "labels": {
                c.LABEL_MANAGED_BY: c.MANAGED_BY,
                c.LABEL_MODEL_NAME: model_name,
                c.LABEL_MODEL_VERSION: version,
                LABEL_RETRAINED_FOR: endpoint,
            },
            "annotations": {ANNOTATION_BASE_VERSION: base_version},
        },
        "spec": {
            "modelName": model_name,
            "version": version,
            "framework": framework,
            "artifact": {"uri": retrained_artifact_uri(claim, model_name, version)},
            "description": (
                f"retrained by OnlineEndpoint {endpoint} from version {base_version}: {reason}"
            )[:4096],
            "tags": {"retrained-for": endpoint, "retrained-from-version": base_version},
            "training": retrain.template.to_wire(),
        },
    }


def promoted_deployment_name(model_name: str, version: str) -> str:
    """Name of the deployment automatic promotion adds: ``<modelName>-v<version>`` (22 max)."""
    name = f"{model_name}-v{version}"
    if len(name) <= c.MAX_DEPLOYMENT_NAME and name[0].isalpha():
        return name
    return f"v{version}"[: c.MAX_DEPLOYMENT_NAME]


def build_promoted_deployment(
    live: dict[str, Any], name: str, model_name: str, version: str
) -> dict[str, Any]:
    """A copy of the live deployment's spec entry serving the new version."""
    entry = copy.deepcopy(live)
    entry["name"] = name
    entry["model"] = {"name": model_name, "version": version}
    return entry
