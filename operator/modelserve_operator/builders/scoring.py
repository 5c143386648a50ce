"""Children of one endpoint deployment: its Deployment, Service, HPA and PodDisruptionBudget."""

from __future__ import annotations

import posixpath
from typing import Any

from modelserve_api import EndpointDeployment, OnlineEndpoint
from modelserve_api import constants as c

from ..resolved import ResolvedModel
from .artifact import MODEL_VOLUME, TMP_VOLUME, artifact_source, build_fetch_container
from .common import (
    BuilderSettings,
    child_name,
    common_labels,
    container_security_context,
    disruption_budget,
    hardened_pod_spec,
    object_meta,
    scoring_selector,
    termination_grace_seconds,
)
from .shadow import shadow_collector_url, wants_shadow_collector

SCRIPT_VOLUME = "scoring-script"

# HPA CPU utilization is a percentage of the request, so a pod without a CPU request
# cannot be autoscaled; these apply only when the user set no requests at all.
DEFAULT_REQUESTS = {"cpu": "250m", "memory": "256Mi"}


def scoring_labels(endpoint: str, deployment: str, model: ResolvedModel) -> dict[str, str]:
    """Labels of a deployment's objects and pods, including the served model version."""
    return {
        **common_labels(endpoint, c.COMPONENT_SCORING),
        c.LABEL_DEPLOYMENT: deployment,
        c.LABEL_MODEL_NAME: model.model_name,
        c.LABEL_MODEL_VERSION: model.version,
    }


def _env(deployment: EndpointDeployment, model: ResolvedModel, artifact_path: str) -> list[dict]:
    settings = deployment.request_settings
    env = {
        "MODELSERVE_MODEL_NAME": model.model_name,
        "MODELSERVE_MODEL_VERSION": model.version,
        "MODELSERVE_DEPLOYMENT_NAME": deployment.name,
        "MODELSERVE_MODEL_DIR": c.MODEL_DIR,
        "MODELSERVE_ARTIFACT_PATH": artifact_path,
        # The server checks the digest again on the bytes it unpickles.
        "MODELSERVE_ARTIFACT_SHA256": model.artifact_sha256,
        "MODELSERVE_HTTP_PORT": str(c.SCORING_HTTP_PORT),
        "MODELSERVE_METRICS_PORT": str(c.SCORING_METRICS_PORT),
        "MODELSERVE_MAX_CONCURRENT_REQUESTS": str(settings.max_concurrent_requests_per_instance),
        "MODELSERVE_REQUEST_TIMEOUT_MS": str(settings.request_timeout_ms),
        "MODELSERVE_MAX_BATCH_SIZE": str(settings.max_batch_size),
        "MODELSERVE_MAX_BATCH_DELAY_MS": str(settings.max_batch_delay_ms),
        # auto | sklearn | onnx: the deployment's choice wins over the Model's
        "MODELSERVE_RUNTIME": deployment.runtime or model.runtime,
    }
    # Set only where they differ from the server's defaults (sklearn, warn): a scoring pod
    # of a plain scikit-learn Model keeps the template an older operator gave it, so an
    # operator upgrade rolls no pod for them.
    if model.framework != c.DEFAULT_FRAMEWORK:
        env["MODELSERVE_FRAMEWORK"] = model.framework
    if model.library_version_policy != c.DEFAULT_LIBRARY_VERSION_POLICY:
        env["MODELSERVE_LIBRARY_VERSION_POLICY"] = model.library_version_policy
    if deployment.scoring_script is not None:
        env["MODELSERVE_SCORING_SCRIPT"] = posixpath.join(
            c.SCORING_SCRIPT_DIR, deployment.scoring_script.key
        )
    listed = [{"name": k, "value": v} for k, v in env.items()]
    # The CRD refuses user variables named MODELSERVE_*, so these never shadow ours.
    listed += [{"name": e.name, "value": e.value or ""} for e in deployment.env]
    return listed


def _resources(deployment: EndpointDeployment) -> dict[str, Any]:
    given = deployment.resources
    requests = dict(given.requests) if given and given.requests else dict(DEFAULT_REQUESTS)
    result: dict[str, Any] = {"requests": {k: str(v) for k, v in requests.items()}}
    if given and given.limits:
        result["limits"] = {k: str(v) for k, v in given.limits.items()}
    return result


def _probe(path: str, timing: Any) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "initialDelaySeconds": timing.initial_delay_seconds,
        "periodSeconds": timing.period_seconds,
        "failureThreshold": timing.failure_threshold,
        "timeoutSeconds": timing.timeout_seconds,
    }


# Fields of a deployment that only set how many pods run (the Deployment's replicas or
# its HPA): scaling must not roll the pods, so they are not template inputs.
_REPLICA_FIELDS = {"instance_count", "autoscale"}


def _collector_env(endpoint: OnlineEndpoint) -> list[dict]:
    """Where the pods ship their answers when the rollout judges agreement (docs/shadow.md)."""
    if not wants_shadow_collector(endpoint):
        return []
    return [{"name": "MODELSERVE_COLLECTOR_URL", "value": shadow_collector_url(endpoint)}]


def scoring_template_inputs(deployment: EndpointDeployment) -> dict[str, Any]:
    """What of a deployment's spec can reach its pod template (for builders/pinning.py)."""
    return deployment.model_dump(
        mode="json", by_alias=True, exclude_defaults=True, exclude=_REPLICA_FIELDS
    )


def build_scoring_deployment(
    endpoint: OnlineEndpoint,
    deployment: EndpointDeployment,
    model: ResolvedModel,
    settings: BuilderSettings,
) -> dict[str, Any]:
    """The apps/v1 Deployment that serves ``model`` for one endpoint deployment.

    An init container fetches the artifact and verifies its sha256 before the server
    starts. Under autoscale ``replicas`` is left out so the HPA owns it (a server-side
    apply that set it would fight the autoscaler).
    """
    name = child_name(endpoint.metadata.name, deployment.name)
    labels = scoring_labels(endpoint.metadata.name, deployment.name, model)
    source = artifact_source(model.artifact_uri, model.artifact_s3, model.artifact_mlflow)
    artifact_path = posixpath.join(c.MODEL_DIR, source.file_name)
    image = deployment.image or settings.scoring_image

    volumes: list[dict[str, Any]] = [
        {"name": MODEL_VOLUME, "emptyDir": {}},
        {"name": TMP_VOLUME, "emptyDir": {}},
        *source.volumes,
    ]
    server_mounts = [
        {"name": MODEL_VOLUME, "mountPath": c.MODEL_DIR, "readOnly": True},
        {"name": TMP_VOLUME, "mountPath": "/tmp"},
    ]
    if deployment.scoring_script is not None:
        script = deployment.scoring_script
        volumes.append(
            {
                "name": SCRIPT_VOLUME,
                "configMap": {
                    "name": script.config_map,
                    "items": [{"key": script.key, "path": script.key}],
                },
            }
        )
        server_mounts.append(
            {"name": SCRIPT_VOLUME, "mountPath": c.SCORING_SCRIPT_DIR, "readOnly": True}
        )

    fetch = build_fetch_container(
        source,
        model.artifact_sha256,
        image,
        settings.image_pull_policy,
        _resources(deployment),
        container_security_context(),
    )
    server = {
        "name": "scoring",
        # The last log lines become the termination message: a digest mismatch or a
        # model that fails to load is then named in the endpoint's Degraded condition.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "image": image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["modelserve-scoring", "serve"],
        "env": _env(deployment, model, artifact_path) + _collector_env(endpoint),
        "ports": [
            {"name": "http", "containerPort": c.SCORING_HTTP_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": c.SCORING_METRICS_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": _probe("/v2/health/ready", deployment.probes.readiness),
        "livenessProbe": _probe("/v2/health/live", deployment.probes.liveness),
        # Keep serving while the Service and router drop this pod, then drain in-flight work.
        "lifecycle": {"preStop": {"sleep": {"seconds": settings.pre_stop_sleep_seconds}}},
        "resources": _resources(deployment),
        "volumeMounts": server_mounts,
        "securityContext": container_security_context(),
    }
    # The server drains for the request timeout + 2 s after SIGTERM (serving-image settings).
    grace = termination_grace_seconds(settings, deployment.request_settings.request_timeout_ms)
    spec: dict[str, Any] = {
        "selector": {"matchLabels": scoring_selector(endpoint.metadata.name, deployment.name)},
        "revisionHistoryLimit": 3,
        # A new version only replaces an old pod once it is Ready: no capacity dip.
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "template": {
            "metadata": {
                "labels": labels,
                "annotations": {
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(c.SCORING_METRICS_PORT),
                    "prometheus.io/path": "/metrics",
                },
            },
            "spec": hardened_pod_spec(
                settings,
                terminationGracePeriodSeconds=grace,
                initContainers=[fetch],
                containers=[server],
                volumes=volumes,
            ),
        },
    }
    if deployment.autoscale is None:
        spec["replicas"] = deployment.instance_count
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(name, endpoint.metadata.namespace, labels),
        "spec": spec,
    }


def build_scoring_service(
    endpoint: OnlineEndpoint, deployment: EndpointDeployment, model: ResolvedModel
) -> dict[str, Any]:
    """ClusterIP Service of one deployment; the router sends to its ClusterIP."""
    name = child_name(endpoint.metadata.name, deployment.name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(
            name,
            endpoint.metadata.namespace,
            scoring_labels(endpoint.metadata.name, deployment.name, model),
        ),
        "spec": {
            "type": "ClusterIP",
            "selector": scoring_selector(endpoint.metadata.name, deployment.name),
            "ports": [
                {
                    "name": "http",
                    "port": c.SCORING_SERVICE_PORT,
                    "targetPort": "http",
                    "protocol": "TCP",
                },
                {
                    "name": "metrics",
                    "port": c.SCORING_METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                },
                # v2 gRPC (HTTP/2 without TLS). The target is the port's number: a named
                # containerPort would change the pod template, and a template change rolls every
                # scoring pod when the operator is upgraded. The server listens on it anyway.
                {
                    "name": "grpc",
                    "port": c.SCORING_GRPC_PORT,
                    "targetPort": c.SCORING_GRPC_PORT,
                    "protocol": "TCP",
                    "appProtocol": "kubernetes.io/h2c",
                },
            ],
        },
    }


def build_hpa(
    endpoint: OnlineEndpoint, deployment: EndpointDeployment, model: ResolvedModel
) -> dict[str, Any] | None:
    """autoscaling/v2 HPA on CPU utilization, or None when the deployment has no autoscale."""
    scale = deployment.autoscale
    if scale is None:
        return None
    name = child_name(endpoint.metadata.name, deployment.name)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_meta(
            name,
            endpoint.metadata.namespace,
            scoring_labels(endpoint.metadata.name, deployment.name, model),
        ),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": scale.min_replicas,
            "maxReplicas": scale.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scale.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
            "behavior": {
                "scaleDown": {"stabilizationWindowSeconds": scale.scale_down_stabilization_seconds},
                "scaleUp": {"stabilizationWindowSeconds": scale.scale_up_stabilization_seconds},
            },
        },
    }


def build_pdb(
    endpoint: OnlineEndpoint, deployment: EndpointDeployment, model: ResolvedModel
) -> dict[str, Any]:
    """The deployment's PodDisruptionBudget: a drain evicts one scoring pod at a time."""
    return disruption_budget(
        child_name(endpoint.metadata.name, deployment.name),
        endpoint.metadata.namespace,
        scoring_labels(endpoint.metadata.name, deployment.name, model),
        scoring_selector(endpoint.metadata.name, deployment.name),
    )
