"""Helpers every builder shares: settings, names, labels, owner references, hardening."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from modelserve_api import constants as c

# Who may scrape the scoring pods' metrics port unless the chart names others: pods
# labelled as Prometheus (both the Prometheus Operator and Prometheus's own chart label
# them so), in any namespace.
DEFAULT_METRICS_FROM: tuple[dict[str, Any], ...] = (
    {
        "namespaceSelector": {},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    },
)


@dataclass(frozen=True)
class NetworkPolicySettings:
    """Whether the operator makes NetworkPolicies, and who besides routers may reach pods."""

    enabled: bool = True
    # NetworkPolicy peers allowed to the scoring pods' metrics port.
    metrics_from: tuple[dict[str, Any], ...] = DEFAULT_METRICS_FROM
    # Where the API server's connections come from, on clusters whose network plugin
    # applies policies to them: the operator reads scoring pods through its pod proxy.
    api_server_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuilderSettings:
    """Operator-wide choices the builders need (images and pull policy)."""

    scoring_image: str = c.DEFAULT_SCORING_IMAGE
    router_image: str = c.DEFAULT_ROUTER_IMAGE
    image_pull_policy: str = "IfNotPresent"
    # Time for the endpoints controller and kube-proxy to stop sending to a terminating
    # pod; on the local node 5 s still lost requests when a pod was replaced, 10 s none.
    pre_stop_sleep_seconds: int = 10
    # Operator-wide placement of the pods it creates (e.g. onto real nodes only).
    node_selector: tuple[tuple[str, str], ...] = ()
    network: NetworkPolicySettings = field(default_factory=NetworkPolicySettings)


def termination_grace_seconds(settings: BuilderSettings, request_timeout_ms: int) -> int:
    """How long a pod may take to stop: the preStop sleep, the longest request it may still be
    answering, then 5 s to exit.

    No longer than that: the namespace controller looks again at a namespace being deleted
    only after half the largest grace period of its pods, so a fixed 200 s made every
    namespace with our pods take 100 s to delete, whatever its pods' requests.
    """
    return settings.pre_stop_sleep_seconds + math.ceil(request_timeout_ms / 1000) + 5


def pod_placement(settings: BuilderSettings) -> dict[str, Any]:
    """The pod-spec fields that place pods, from the operator-wide settings."""
    return {"nodeSelector": dict(settings.node_selector)} if settings.node_selector else {}


def hardened_pod_spec(settings: BuilderSettings, **fields: Any) -> dict[str, Any]:
    """A pod spec with the operator's placement and hardening, plus the builder's `fields`.

    No ServiceAccount token and no Service environment variables: nothing we run talks to
    the API server or finds peers by environment.
    """
    return {
        **pod_placement(settings),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(),
        **fields,
    }


def child_name(endpoint: str, deployment: str) -> str:
    """Name of the Deployment, Service, HPA and PDB of one endpoint deployment."""
    return f"{endpoint}-{deployment}"


def router_configmap_name(endpoint: str) -> str:
    """Name of the ConfigMap holding the router's nginx configuration."""
    return f"{endpoint}-router"


def keys_secret_name(endpoint: str) -> str:
    """Name of the Secret holding the endpoint's keys."""
    return f"{endpoint}-keys"


def content_hash(*parts: str) -> str:
    """Short stable hash of text, used as a pod-template annotation to roll pods on change."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def common_labels(endpoint: str, component: str) -> dict[str, str]:
    """Labels every child of an endpoint carries."""
    return {
        c.LABEL_NAME: "modelserve",
        c.LABEL_MANAGED_BY: c.MANAGED_BY,
        c.LABEL_COMPONENT: component,
        c.LABEL_ENDPOINT: endpoint,
    }


def scoring_selector(endpoint: str, deployment: str) -> dict[str, str]:
    """The stable selector of one deployment's pods; it never includes the model version."""
    return {
        c.LABEL_COMPONENT: c.COMPONENT_SCORING,
        c.LABEL_ENDPOINT: endpoint,
        c.LABEL_DEPLOYMENT: deployment,
    }


def router_selector(endpoint: str) -> dict[str, str]:
    """The stable selector of the router's pods."""
    return {c.LABEL_COMPONENT: c.COMPONENT_ROUTER, c.LABEL_ENDPOINT: endpoint}


def object_meta(
    name: str,
    namespace: str,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """metadata of a child object."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def owner_reference(body: dict[str, Any]) -> dict[str, Any]:
    """An ownerReference making the custom resource ``body`` the controller of a child."""
    metadata = body.get("metadata", {})
    missing = [f for f in ("name", "uid") if not metadata.get(f)]
    if missing or not body.get("kind") or not body.get("apiVersion"):
        raise ValueError(
            f"owner body needs apiVersion, kind, metadata.name and metadata.uid; missing {missing}"
        )
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def with_owner(manifest: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``manifest`` owned by ``owner`` (an owner_reference())."""
    metadata = dict(manifest["metadata"])
    metadata["ownerReferences"] = [owner]
    return {**manifest, "metadata": metadata}


def pod_security_context() -> dict[str, Any]:
    """Pod-level hardening: a fixed non-root uid/gid and the runtime's seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": c.NON_ROOT_UID,
        "runAsGroup": c.NON_ROOT_UID,
        "fsGroup": c.NON_ROOT_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Container-level hardening: read-only root, no privilege escalation, no capabilities."""
    return {
        "runAsNonRoot": True,
        "runAsUser": c.NON_ROOT_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def disruption_budget(
    name: str, namespace: str, labels: dict[str, str], selector: dict[str, str]
) -> dict[str, Any]:
    """policy/v1 PodDisruptionBudget allowing one voluntary eviction at a time.

    ``maxUnavailable: 1`` rather than ``minAvailable: 1``: with a single replica
    minAvailable would forbid every eviction and a node drain would hang forever,
    while maxUnavailable still lets it go; with more replicas the rest keep serving.
    Unhealthy pods may always be evicted so a crash-looping pod never blocks a drain.
    """
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(name, namespace, labels),
        "spec": {
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": selector},
        },
    }
