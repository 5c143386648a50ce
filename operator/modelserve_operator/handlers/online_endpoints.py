"""Kopf handlers of OnlineEndpoint and of the children it owns."""

from __future__ import annotations

import threading
from typing import Any

import kopf
from modelserve_api import constants as c

from .state import state

_MANAGED = {c.LABEL_MANAGED_BY: c.MANAGED_BY}
# Children change in bursts (a rollout moves every pod through several states): gather a
# burst into one reconcile. Spec changes are not delayed.
CHILD_EVENT_DELAY_S = 0.1


def reconcile_endpoint(namespace: str, name: str, delay: float = 0.0) -> None:
    """Queue a reconcile of one endpoint (folded into one already waiting for it)."""
    state().queue.add((c.KIND_ONLINE_ENDPOINT, namespace, name), delay)


@kopf.on.resume(c.GROUP, c.VERSION, c.PLURAL_ONLINE_ENDPOINTS)
@kopf.on.create(c.GROUP, c.VERSION, c.PLURAL_ONLINE_ENDPOINTS)
@kopf.on.update(c.GROUP, c.VERSION, c.PLURAL_ONLINE_ENDPOINTS, field="spec")
def endpoint_changed(namespace: str, name: str, **_: Any) -> None:
    reconcile_endpoint(namespace, name)


# The kubectl controls: `modelserve.io/refresh` (builders/pinning.py) and
# `modelserve.io/rollout` (docs/rollouts.md).
CONTROL_ANNOTATIONS = (c.ANNOTATION_REFRESH, c.ANNOTATION_ROLLOUT)


class ControlAnnotations:
    """Tells when an endpoint's control annotations change, event by event.

    Kopf leaves every annotation under its storage prefix (ours, `modelserve.io`:
    handlers/lifecycle.py) out of the diff it hands to `on.update` handlers, so a change
    to one of ours fires none: a refresh then waited for the next resync, minutes later.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], tuple[str | None, ...]] = {}

    def changed(
        self, namespace: str, name: str, annotations: dict[str, str], deleted: bool = False
    ) -> bool:
        """Whether the controls differ from the last event's (the first sight is no change:
        the resume and create handlers reconcile then)."""
        key = (namespace, name)
        values = tuple(annotations.get(a) for a in CONTROL_ANNOTATIONS)
        with self._lock:
            if deleted:
                self._seen.pop(key, None)
                return False
            previous = self._seen.setdefault(key, values)
            self._seen[key] = values
        return previous != values


_controls = ControlAnnotations()


@kopf.on.event(c.GROUP, c.VERSION, c.PLURAL_ONLINE_ENDPOINTS)
def endpoint_seen(
    event: dict[str, Any], namespace: str, name: str, annotations: dict[str, str], **_: Any
) -> None:
    deleted = event.get("type") == "DELETED"
    # Remembered for the periodic resync (handlers/resync.py).
    state().resync.track(c.KIND_ONLINE_ENDPOINT, namespace, name, deleted=deleted)
    if _controls.changed(namespace, name, dict(annotations or {}), deleted):
        reconcile_endpoint(namespace, name)


def _on_child_event(event: dict[str, Any], labels: dict[str, str], namespace: str) -> None:
    endpoint = labels.get(c.LABEL_ENDPOINT)
    if endpoint and event.get("type") is not None:
        reconcile_endpoint(namespace, endpoint, CHILD_EVENT_DELAY_S)


# A child changed (rollout progress, a pod became Ready) or was edited or deleted by
# hand: reconcile its endpoint, which puts it back and moves traffic when allowed.
@kopf.on.event("apps", "v1", "deployments", labels=_MANAGED)
@kopf.on.event("v1", "services", labels=_MANAGED)
@kopf.on.event("v1", "configmaps", labels=_MANAGED)
@kopf.on.event("v1", "secrets", labels=_MANAGED)
@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers", labels=_MANAGED)
@kopf.on.event("policy", "v1", "poddisruptionbudgets", labels=_MANAGED)
@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", labels=_MANAGED)
def child_event(
    event: dict[str, Any], body: dict[str, Any], labels: dict[str, str], namespace: str, **_: Any
) -> None:
    # Every event counts, the initial listing's too: the reconciler skips re-applying a
    # child whose last seen version is the one it applied.
    state().endpoints.children.seen(body, deleted=event.get("type") == "DELETED")
    _on_child_event(event, labels, namespace)


@kopf.on.event("v1", "pods", labels={c.LABEL_COMPONENT: c.COMPONENT_SCORING})
def scoring_pod_event(
    event: dict[str, Any], labels: dict[str, str], namespace: str, **_: Any
) -> None:
    # Pod failures (CrashLoopBackOff, a digest mismatch in the init container) do not
    # change the Deployment's status, so watch the pods to report them as Degraded.
    _on_child_event(event, labels, namespace)
