"""Children of an endpoint's shadow collector (docs/shadow.md): Deployment, Service, policy.

It runs only for an endpoint whose rollout has an agreement gate: the scoring pods then
post their answers to it, and the rollout reads its GET /shadow.
"""

from __future__ import annotations

from typing import Any

from modelserve_api import OnlineEndpoint
from modelserve_api import constants as c

from .common import (
    BuilderSettings,
    NetworkPolicySettings,
    common_labels,
    container_security_context,
    hardened_pod_spec,
    object_meta,
)

# Request ids kept while waiting for their pair or their feedback: about 100 MB at worst
# for answers of a few rows; the collector counts what it forgets.
COLLECTOR_MEMORY = 50_000


def wants_shadow_collector(endpoint: OnlineEndpoint) -> bool:
    """Whether the endpoint's rollout judges agreement, the one reader of the collector."""
    policy = endpoint.spec.rollout
    return policy is not None and any(g.metric == "agreement" for g in policy.gates)


def shadow_collector_name(endpoint: str) -> str:
    """Name of the collector's Deployment, Service and NetworkPolicy."""
    return f"{endpoint}-shadow"


def shadow_collector_address(endpoint: OnlineEndpoint) -> str:
    """host:port of the collector's Service (the router sends feedback there)."""
    meta = endpoint.metadata
    name = shadow_collector_name(meta.name)
    return f"{name}.{meta.namespace}.svc.cluster.local:{c.SHADOW_COLLECTOR_PORT}"


def shadow_collector_url(endpoint: OnlineEndpoint) -> str:
    """The in-cluster base URL scoring pods post their answers to."""
    return f"http://{shadow_collector_address(endpoint)}"


def shadow_collector_selector(endpoint: str) -> dict[str, str]:
    """The stable selector of the collector's pod."""
    return {c.LABEL_COMPONENT: c.COMPONENT_SHADOW_COLLECTOR, c.LABEL_ENDPOINT: endpoint}


def build_shadow_collector_deployment(
    endpoint: OnlineEndpoint, settings: BuilderSettings
) -> dict[str, Any]:
    """One replica of `modelserve-scoring collect`: pairing needs every answer in one place."""
    meta = endpoint.metadata
    labels = common_labels(meta.name, c.COMPONENT_SHADOW_COLLECTOR)
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
    container = {
        "name": "collector",
        "image": settings.scoring_image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": [
            "collect",
            "--port",
            str(c.SHADOW_COLLECTOR_PORT),
            "--memory",
            str(COLLECTOR_MEMORY),
        ],
        "ports": [{"name": "http", "containerPort": c.SHADOW_COLLECTOR_PORT, "protocol": "TCP"}],
        "readinessProbe": probe,
        "livenessProbe": {**probe, "failureThreshold": 6},
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": container_security_context(),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(shadow_collector_name(meta.name), meta.namespace, labels),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": shadow_collector_selector(meta.name)},
            # one collector at a time: two would each see half of the answers
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": hardened_pod_spec(settings, containers=[container]),
            },
        },
    }


def build_shadow_collector_service(endpoint: OnlineEndpoint) -> dict[str, Any]:
    """The collector's Service: answers and feedback in, GET /shadow and /metrics out."""
    meta = endpoint.metadata
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(
            shadow_collector_name(meta.name),
            meta.namespace,
            common_labels(meta.name, c.COMPONENT_SHADOW_COLLECTOR),
        ),
        "spec": {
            "type": "ClusterIP",
            "selector": shadow_collector_selector(meta.name),
            "ports": [
                {
                    "name": "http",
                    "port": c.SHADOW_COLLECTOR_PORT,
                    "targetPort": "http",
                    "protocol": "TCP",
                }
            ],
        },
    }


def build_shadow_collector_network_policy(
    endpoint: OnlineEndpoint, settings: NetworkPolicySettings
) -> dict[str, Any]:
    """The collector takes answers from its endpoint's scoring pods, feedback from its router,
    reads from the API server (the operator's service proxy) and scrapes from Prometheus."""
    meta = endpoint.metadata
    callers: list[dict[str, Any]] = [
        {
            "podSelector": {
                "matchLabels": {c.LABEL_COMPONENT: component, c.LABEL_ENDPOINT: meta.name}
            }
        }
        for component in (c.COMPONENT_SCORING, c.COMPONENT_ROUTER)
    ]
    callers += [{"ipBlock": {"cidr": cidr}} for cidr in settings.api_server_cidrs]
    callers += [dict(peer) for peer in settings.metrics_from]
    port = [{"protocol": "TCP", "port": c.SHADOW_COLLECTOR_PORT}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(
            shadow_collector_name(meta.name),
            meta.namespace,
            common_labels(meta.name, c.COMPONENT_SHADOW_COLLECTOR),
        ),
        "spec": {
            "podSelector": {"matchLabels": shadow_collector_selector(meta.name)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": callers, "ports": port}],
        },
    }
