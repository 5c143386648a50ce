"""Kopf handlers of Model and its training Job: check or train it, then update its endpoints."""

from __future__ import annotations

from typing import Any

import kopf
from modelserve_api import constants as c

from .indexes import named
from .online_endpoints import reconcile_endpoint
from .state import state


def reconcile_model(namespace: str, name: str) -> None:
    """Queue a check of one Model (folded into one already waiting for it)."""
    state().queue.add((c.KIND_MODEL, namespace, name))


@kopf.on.event(c.GROUP, c.VERSION, c.PLURAL_MODELS)
def model_event(
    event: dict[str, Any],
    body: dict[str, Any],
    namespace: str,
    name: str,
    endpoints_by_model: kopf.Index,
    **_: Any,
) -> None:
    shared = state()
    deleted = event.get("type") == "DELETED"
    shared.resync.track(c.KIND_MODEL, namespace, name, deleted=deleted)
    if not deleted:
        reconcile_model(namespace, name)
    # A new Ready version may be the new `latest`; a deleted one may be in use.
    model_name = (body.get("spec") or {}).get("modelName")
    for endpoint in sorted(named(endpoints_by_model, (namespace, model_name))):
        reconcile_endpoint(namespace, endpoint)


@kopf.on.event("batch", "v1", "jobs", labels={c.LABEL_COMPONENT: c.COMPONENT_TRAINING})
def training_job_event(
    event: dict[str, Any], body: dict[str, Any], namespace: str, **_: Any
) -> None:
    # A training Job started, finished or was deleted: its Model records the outcome.
    if event.get("type") is None:
        return
    for owner in body.get("metadata", {}).get("ownerReferences") or []:
        if owner.get("kind") == c.KIND_MODEL and owner.get("apiVersion") == c.API_VERSION:
            reconcile_model(namespace, owner["name"])


@kopf.on.event("v1", "pods", labels={c.LABEL_COMPONENT: c.COMPONENT_TRAINING})
def training_pod_event(
    event: dict[str, Any],
    labels: dict[str, str],
    namespace: str,
    models_by_version: kopf.Index,
    **_: Any,
) -> None:
    # A training pod that nothing can schedule, or whose image cannot be pulled, changes
    # no Job status: its own events are the only news of it. Its labels name the model
    # and version, not the Model object, so find that among the namespace's Models.
    if event.get("type") is None:
        return
    key = (namespace, str(labels.get(c.LABEL_MODEL_NAME)), str(labels.get(c.LABEL_MODEL_VERSION)))
    for model in sorted(named(models_by_version, key)):
        reconcile_model(namespace, model)
