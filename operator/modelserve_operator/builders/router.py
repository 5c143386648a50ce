"""Children of an endpoint's router: nginx Deployment, Service, configuration and keys."""

from __future__ import annotations

import base64
from typing import Any

from modelserve_api import OnlineEndpoint
from modelserve_api import constants as c

from .common import (
    BuilderSettings,
    common_labels,
    container_security_context,
    content_hash,
    disruption_budget,
    hardened_pod_spec,
    keys_secret_name,
    object_meta,
    router_configmap_name,
    router_selector,
    termination_grace_seconds,
)

CONFIG_VOLUME = "config"
KEYS_VOLUME = "keys"
PRIMARY_KEY = "primaryKey"
SECONDARY_KEY = "secondaryKey"
# nginx writes temp files and its pid; the root filesystem is read-only.
_WRITABLE_DIRS = ("/tmp", "/var/cache/nginx", "/var/lib/nginx", "/run")


def router_config_hash(nginx_conf: str, nginx_keys_conf: str = "") -> str:
    """Hash of everything nginx reads at start; as a pod annotation it rolls the router."""
    return content_hash(nginx_conf, nginx_keys_conf)


def router_request_timeout_ms(endpoint: OnlineEndpoint) -> int:
    """How long the router waits for an answer: a little longer than the slowest of the
    endpoint's scoring pods may take."""
    slowest = max(
        (d.request_settings.request_timeout_ms for d in endpoint.spec.deployments),
        default=5000,
    )
    return slowest + 1000


def scoring_uri(endpoint: OnlineEndpoint) -> str:
    """The in-cluster URL of the endpoint's managed-endpoint-style scoring route."""
    meta = endpoint.metadata
    return f"http://{meta.name}.{meta.namespace}.svc.cluster.local/score"


def _router_labels(endpoint: OnlineEndpoint) -> dict[str, str]:
    return common_labels(endpoint.metadata.name, c.COMPONENT_ROUTER)


def build_router_deployment(
    endpoint: OnlineEndpoint, config_hash: str, settings: BuilderSettings
) -> dict[str, Any]:
    """The nginx Deployment named after the endpoint; a new config hash rolls its pods."""
    name = endpoint.metadata.name
    labels = _router_labels(endpoint)
    writable = [
        {"name": f"writable-{i}", "mountPath": path} for i, path in enumerate(_WRITABLE_DIRS)
    ]
    container = {
        "name": "router",
        "image": settings.router_image,
        "imagePullPolicy": settings.image_pull_policy,
        "ports": [{"name": "http", "containerPort": c.ROUTER_PORT, "protocol": "TCP"}],
        # nginx answers /healthz at once; a slow answer means a starved CPU, not a broken
        # router. A single router pod marked unready takes the endpoint off the network,
        # so it takes three missed probes of 2 s (checked every 2 s) to get there.
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 3,
            "timeoutSeconds": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 6,
            "timeoutSeconds": 2,
        },
        "lifecycle": {"preStop": {"sleep": {"seconds": settings.pre_stop_sleep_seconds}}},
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}},
        "volumeMounts": [
            {"name": CONFIG_VOLUME, "mountPath": c.ROUTER_CONFIG_DIR, "readOnly": True},
            {"name": KEYS_VOLUME, "mountPath": c.KEYS_DIR, "readOnly": True},
            *writable,
        ],
        "securityContext": container_security_context(),
    }
    volumes = [
        {
            "name": CONFIG_VOLUME,
            "configMap": {
                "name": router_configmap_name(name),
                "items": [{"key": c.ROUTER_CONFIG_FILE, "path": c.ROUTER_CONFIG_FILE}],
            },
        },
        {
            "name": KEYS_VOLUME,
            # Optional: with authMode none there is no Secret and nginx does not read it.
            "secret": {
                "secretName": keys_secret_name(name),
                "optional": True,
                "items": [{"key": c.NGINX_KEYS_FILE, "path": c.NGINX_KEYS_FILE}],
            },
        },
        *({"name": m["name"], "emptyDir": {}} for m in writable),
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(name, endpoint.metadata.namespace, labels),
        "spec": {
            "replicas": endpoint.spec.router.replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": router_selector(name)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {c.ANNOTATION_ROUTER_CONFIG_HASH: config_hash},
                },
                "spec": hardened_pod_spec(
                    settings,
                    terminationGracePeriodSeconds=termination_grace_seconds(
                        settings, router_request_timeout_ms(endpoint)
                    ),
                    containers=[container],
                    volumes=volumes,
                    **_spread(endpoint),
                ),
            },
        },
    }


def _spread(endpoint: OnlineEndpoint) -> dict[str, Any]:
    """Several router pods go to different nodes where the cluster has them.

    ScheduleAnyway: on a one-node cluster they share it rather than wait. A single router
    gets no constraint, so its pod template stays what it was before the field existed and
    an operator upgrade rolls no router.
    """
    if endpoint.spec.router.replicas < 2:
        return {}
    return {
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": router_selector(endpoint.metadata.name)},
            }
        ]
    }


def build_router_pdb(endpoint: OnlineEndpoint) -> dict[str, Any]:
    """The router's PodDisruptionBudget: a drain evicts one router pod at a time.

    Named after the endpoint, like the router's Deployment and Service: a scoring
    deployment's budget is "<endpoint>-<deployment>", so the two never clash.
    """
    name = endpoint.metadata.name
    return disruption_budget(
        name, endpoint.metadata.namespace, _router_labels(endpoint), router_selector(name)
    )


def build_router_service(endpoint: OnlineEndpoint) -> dict[str, Any]:
    """The endpoint's stable Service: HTTP on port 80 (the router's 8080), v2 gRPC on 8081."""
    name = endpoint.metadata.name
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(name, endpoint.metadata.namespace, _router_labels(endpoint)),
        "spec": {
            "type": "ClusterIP",
            "selector": router_selector(name),
            "ports": [
                {
                    "name": "http",
                    "port": c.ROUTER_SERVICE_PORT,
                    "targetPort": "http",
                    "protocol": "TCP",
                },
                # v2 gRPC (HTTP/2 without TLS). A number, not a named containerPort: the
                # router's pod template stays as it was, so no router rolls for this port.
                {
                    "name": "grpc",
                    "port": c.ROUTER_GRPC_PORT,
                    "targetPort": c.ROUTER_GRPC_PORT,
                    "protocol": "TCP",
                    "appProtocol": "kubernetes.io/h2c",
                },
            ],
        },
    }


def build_router_configmap(endpoint: OnlineEndpoint, nginx_conf: str) -> dict[str, Any]:
    """ConfigMap ``<endpoint>-router`` holding the rendered nginx.conf."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(
            router_configmap_name(endpoint.metadata.name),
            endpoint.metadata.namespace,
            _router_labels(endpoint),
        ),
        "data": {c.ROUTER_CONFIG_FILE: nginx_conf},
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def build_keys_secret(
    endpoint: OnlineEndpoint, primary_key: str, secondary_key: str, nginx_keys_conf: str
) -> dict[str, Any]:
    """Secret ``<endpoint>-keys``: both keys for callers, and nginx's key map for the router."""
    if not primary_key or not secondary_key:
        raise ValueError("both endpoint keys must be non-empty")
    # data rather than stringData: the applied manifest then equals the stored object,
    # so a repeated server-side apply changes nothing.
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": object_meta(
            keys_secret_name(endpoint.metadata.name),
            endpoint.metadata.namespace,
            _router_labels(endpoint),
        ),
        "data": {
            PRIMARY_KEY: _b64(primary_key),
            SECONDARY_KEY: _b64(secondary_key),
            c.NGINX_KEYS_FILE: _b64(nginx_keys_conf),
        },
    }
