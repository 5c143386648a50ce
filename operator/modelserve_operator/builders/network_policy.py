"""NetworkPolicies that make an endpoint's router the only way to its scoring pods.

Ingress only: egress stays open (scoring pods download artifacts, batch pods read and
write storage). The policies select pods by labels they already carry, so adding them
changes no pod template and restarts nothing.
"""

from __future__ import annotations

from typing import Any

from modelserve_api import BatchDeployment, Model, OnlineEndpoint
from modelserve_api import constants as c

from .common import NetworkPolicySettings, common_labels, object_meta, router_selector
from .training import model_owner, training_job_name, training_labels

API_VERSION = "networking.k8s.io/v1"
KIND = "NetworkPolicy"


def scoring_policy_name(endpoint: str) -> str:
    """Name of the policy guarding an endpoint's scoring pods."""
    return f"{endpoint}-scoring"


def router_policy_name(endpoint: str) -> str:
    """Name of the policy guarding an endpoint's router pods."""
    return f"{endpoint}-router"


def batch_policy_name(batch: str) -> str:
    """Name of the policy guarding a BatchDeployment's pods."""
    return f"{batch}-batch"


def training_policy_name(model: str) -> str:
    """Name of the policy guarding a Model's training pod: its Job's, at most 63 characters."""
    return training_job_name(model)


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _policy(
    name: str,
    namespace: str,
    labels: dict[str, str],
    pod_selector: dict[str, str],
    ingress: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": object_meta(name, namespace, labels),
        "spec": {
            "podSelector": {"matchLabels": dict(pod_selector)},
            # Ingress only: naming Egress here would cut every pod's outgoing calls.
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }


def build_scoring_network_policy(
    endpoint: OnlineEndpoint, settings: NetworkPolicySettings
) -> dict[str, Any]:
    """Scoring pods take requests from their endpoint's router only, scrapes from Prometheus.

    One policy for every deployment of the endpoint: its selector leaves out the
    deployment label, so a deployment added later is covered from its first pod.
    """
    meta = endpoint.metadata
    selector = {c.LABEL_COMPONENT: c.COMPONENT_SCORING, c.LABEL_ENDPOINT: meta.name}
    callers: list[dict[str, Any]] = [{"podSelector": {"matchLabels": router_selector(meta.name)}}]
    callers += [{"ipBlock": {"cidr": cidr}} for cidr in settings.api_server_cidrs]
    ingress = [{"from": callers, "ports": _tcp(c.SCORING_HTTP_PORT, c.SCORING_GRPC_PORT)}]
    if settings.metrics_from:
        # An empty `from` would admit everyone, so no scraper named means no rule at all.
        ingress.append(
            {
                "from": [dict(p) for p in settings.metrics_from],
                "ports": _tcp(c.SCORING_METRICS_PORT),
            }
        )
    return _policy(
        scoring_policy_name(meta.name),
        meta.namespace,
        common_labels(meta.name, c.COMPONENT_SCORING),
        selector,
        ingress,
    )


def build_router_network_policy(endpoint: OnlineEndpoint) -> dict[str, Any]:
    """The router takes clients as `spec.network.allowFrom` says: unset means from anywhere."""
    meta = endpoint.metadata
    allow_from = endpoint.spec.network.allow_from
    ports = _tcp(c.ROUTER_PORT, c.ROUTER_GRPC_PORT)
    if allow_from is None:
        ingress = [{"ports": ports}]
    elif allow_from:
        ingress = [{"from": [peer.to_kube() for peer in allow_from], "ports": ports}]
    else:
        ingress = []  # an empty list admits no one, as the field's description says
    return _policy(
        router_policy_name(meta.name),
        meta.namespace,
        common_labels(meta.name, c.COMPONENT_ROUTER),
        router_selector(meta.name),
        ingress,
    )


def build_batch_network_policy(batch: BatchDeployment) -> dict[str, Any]:
    """A BatchDeployment's pods serve nothing: they accept no connection at all."""
    meta = batch.metadata
    selector = {c.LABEL_COMPONENT: c.COMPONENT_BATCH, c.LABEL_BATCH_DEPLOYMENT: meta.name}
    labels = {c.LABEL_NAME: "modelserve", c.LABEL_MANAGED_BY: c.MANAGED_BY, **selector}
    return _policy(batch_policy_name(meta.name), meta.namespace, labels, selector, [])


def build_training_network_policy(model: Model) -> dict[str, Any]:
    """A training pod serves nothing: it accepts no connection at all; the Model owns this."""
    meta = model.metadata
    labels = training_labels(model)
    policy = _policy(training_policy_name(meta.name), meta.namespace, labels, labels, [])
    policy["metadata"]["ownerReferences"] = [model_owner(model)]
    return policy
