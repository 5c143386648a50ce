"""Kopf handlers of BatchDeployment and of the Jobs its runs are made of."""

from __future__ import annotations

from typing import Any

import kopf
from modelserve_api import constants as c

from .indexes import named
from .state import state


def reconcile_batch_deployment(namespace: str, name: str) -> None:
    """Queue a reconcile of one BatchDeployment (folded into one already waiting for it)."""
    state().queue.add((c.KIND_BATCH_DEPLOYMENT, namespace, name))


# Every change starts from the object itself: create and spec changes (a new
# generation), and the modelserve.io/run annotation, which changes no generation.
@kopf.on.event(c.GROUP, c.VERSION, c.PLURAL_BATCH_DEPLOYMENTS)
def batch_deployment_event(event: dict[str, Any], namespace: str, name: str, **_: Any) -> None:
    deleted = event.get("type") == "DELETED"
    state().resync.track(c.KIND_BATCH_DEPLOYMENT, namespace, name, deleted=deleted)
    if not deleted:
        reconcile_batch_deployment(namespace, name)


@kopf.on.event("batch", "v1", "jobs", labels={c.LABEL_COMPONENT: c.COMPONENT_BATCH})
def batch_job_event(
    event: dict[str, Any], labels: dict[str, str], namespace: str, **_: Any
) -> None:
    # A run's Job finished (or its merge did): record it and start what comes next.
    owner = labels.get(c.LABEL_BATCH_DEPLOYMENT)
    if owner and event.get("type") is not None:
        reconcile_batch_deployment(namespace, owner)


@kopf.on.event(c.GROUP, c.VERSION, c.PLURAL_MODELS)
def model_event_for_batch(
    body: dict[str, Any], namespace: str, batch_deployments_by_model: kopf.Index, **_: Any
) -> None:
    # A Model that turns Ready may unblock a run that could not resolve it.
    model_name = (body.get("spec") or {}).get("modelName")
    for batch in sorted(named(batch_deployments_by_model, (namespace, model_name))):
        reconcile_batch_deployment(namespace, batch)


@kopf.on.event("v1", "pods", labels={c.LABEL_COMPONENT: c.COMPONENT_BATCH})
def batch_pod_event(
    event: dict[str, Any], labels: dict[str, str], namespace: str, **_: Any
) -> None:
    # A run's pod that nothing can schedule, or whose image cannot be pulled, changes no
    # Job status: its own events are the only news of it.
    owner = labels.get(c.LABEL_BATCH_DEPLOYMENT)
    if owner and event.get("type") is not None:
        reconcile_batch_deployment(namespace, owner)
