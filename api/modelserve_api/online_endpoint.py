"""Typed spec and status of the OnlineEndpoint kind (a scoring URI in front of deployments)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from .common import (
    ApiModel,
    Condition,
    ModelReference,
    ObjectMeta,
    Resources,
    ScoringScript,
    conditions_field,
    object_fields,
    observed_generation_field,
    parse_or_raise,
)
from .constants import MAX_DEPLOYMENT_NAME, MAX_ENDPOINT_NAME
from .markers import AGE_COLUMN, READY_COLUMN_PATH, CustomResource, PrinterColumn, Rule, kube
from .model import Runtime
from .monitoring import Monitoring, MonitoringStatus
from .network import EndpointNetwork
from .rollout import RolloutPolicy, RolloutStatus

DEPLOYMENT_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
MAX_MIRROR_PERCENT = 50


class Autoscale(ApiModel):
    """Scale the pods on CPU use with a HorizontalPodAutoscaler instead of a fixed
    instanceCount."""

    min_replicas: int = Field(default=1, description="Fewest pods.", ge=1, le=1000)
    max_replicas: int = Field(description="Most pods.", ge=1, le=1000)
    target_cpu_utilization_percentage: int = Field(
        default=70,
        alias="targetCPUUtilizationPercentage",
        description="Average CPU use, in percent of the CPU request, the autoscaler aims at.",
        ge=1,
        le=100,
    )
    scale_down_stabilization_seconds: int = Field(
        default=300,
        description="How long load must stay low before pods are removed.",
        ge=0,
        le=3600,
    )
    scale_up_stabilization_seconds: int = Field(
        default=0,
        description="How long load must stay high before pods are added.",
        ge=0,
        le=3600,
    )

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Autoscale:
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscale.minReplicas must not exceed autoscale.maxReplicas")
        return self


class RequestSettings(ApiModel):
    """How each pod handles requests."""

    max_concurrent_requests_per_instance: int = Field(
        default=16,
        description="Requests a pod works on at once; concurrent requests are gathered into one "
        "model call. Further requests wait, then get 429.",
        ge=1,
        le=1024,
    )
    request_timeout_ms: int = Field(
        default=5000,
        description="Time a request may take before it fails with 504, in milliseconds (at most "
        "180000).",
        ge=1,
        le=180000,
    )
    max_batch_size: int = Field(
        default=32,
        description="Most rows gathered from concurrent requests into one model call.",
        ge=1,
        le=4096,
    )
    max_batch_delay_ms: int = Field(
        default=2,
        description="Longest a request waits for others to join its model call, in milliseconds.",
        ge=0,
        le=1000,
    )


class ReadinessProbe(ApiModel):
    """Readiness probe (/v2/health/ready); a pod takes traffic only when it passes."""

    initial_delay_seconds: int = Field(
        default=0, description="Seconds after start before the first probe.", ge=0, le=3600
    )
    # 1 s: a new pod takes traffic within a second of its warm-up, not up to 5 s later
    # (bench/coldstart.py, "readiness"); the probe is a cheap GET on the fast route table.
    period_seconds: int = Field(default=1, description="Seconds between probes.", ge=1, le=3600)
    failure_threshold: int = Field(
        default=3,
        description="Failed probes in a row before the pod is taken out of the Service.",
        ge=1,
        le=100,
    )
    timeout_seconds: int = Field(default=2, description="Seconds a probe may take.", ge=1, le=600)


class LivenessProbe(ApiModel):
    """Liveness probe (/v2/health/live); the container restarts when it fails."""

    # Generous by default, so a slow model load is not killed.
    initial_delay_seconds: int = Field(
        default=10, description="Seconds after start before the first probe.", ge=0, le=3600
    )
    period_seconds: int = Field(default=10, description="Seconds between probes.", ge=1, le=3600)
    failure_threshold: int = Field(
        default=30,
        description="Failed probes in a row before the container is restarted.",
        ge=1,
        le=100,
    )
    timeout_seconds: int = Field(default=2, description="Seconds a probe may take.", ge=1, le=600)


class Probes(ApiModel):
    """Timing of the readiness and liveness probes of the scoring container."""

    readiness: ReadinessProbe = Field(
        default_factory=ReadinessProbe, json_schema_extra=kube(default={})
    )
    liveness: LivenessProbe = Field(
        default_factory=LivenessProbe, json_schema_extra=kube(default={})
    )


class DataCollector(ApiModel):
    """Record a sample of requests and predictions for drift and accuracy monitoring."""

    enabled: bool = Field(default=False, description="Whether to collect.")
    sampling_rate: float = Field(
        default=1.0, description="Fraction of requests recorded, 0 to 1.", ge=0.0, le=1.0
    )


class EnvVar(ApiModel):
    """One environment variable."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "!self.name.startsWith('MODELSERVE_')",
                    "MODELSERVE_* variables are set by the operator; use requestSettings instead",
                    ".name",
                )
            ]
        )
    )

    name: str = Field(
        description="Name of the variable.",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
    )
    value: str | None = Field(default=None, description="Value of the variable.", max_length=4096)


class EndpointDeployment(ApiModel):
    """One model version served by its own pods."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "!has(self.autoscale) || self.autoscale.minReplicas <= "
                    "self.autoscale.maxReplicas",
                    "autoscale.minReplicas must not exceed autoscale.maxReplicas",
                    ".autoscale.minReplicas",
                )
            ]
        )
    )

    name: str = Field(
        description='Name of the deployment, for example "blue"; a DNS label of at most 22 '
        'characters (child objects are named "<endpoint>-<name>").',
        min_length=1,
        max_length=MAX_DEPLOYMENT_NAME,
        pattern=DEPLOYMENT_NAME_PATTERN,
    )
    model: ModelReference
    scoring_script: ScoringScript | None = None
    # Overrides the Model's spec.runtime for this deployment's pods.
    runtime: Runtime | None = Field(
        default=None,
        description="How this deployment's scoring server runs the model, overriding the "
        'Model\'s spec.runtime: "auto" serves with ONNX Runtime when the compiled model gives '
        "scikit-learn's answers on a validation sample (identical classes; probabilities and "
        'regression outputs within 1e-5) and with scikit-learn otherwise, "sklearn" never '
        'converts, "onnx" refuses to start unless ONNX Runtime passes that check. Unset: the '
        "Model's spec.runtime.",
    )
    image: str | None = Field(
        default=None,
        description="Scoring server image; defaults to the operator's configured image. Only "
        "needed for a custom image built FROM the modelserve scoring image.",
        max_length=512,
    )
    instance_count: int = Field(
        default=1, description="Number of pods. Ignored when autoscale is set.", ge=0, le=1000
    )
    autoscale: Autoscale | None = None
    resources: Resources | None = None
    request_settings: RequestSettings = Field(
        default_factory=RequestSettings, json_schema_extra=kube(default={})
    )
    probes: Probes = Field(default_factory=Probes, json_schema_extra=kube(default={}))
    data_collector: DataCollector = Field(
        default_factory=DataCollector, json_schema_extra=kube(default={})
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        description="Extra environment variables of the scoring container (names must not start "
        "with MODELSERVE_).",
        max_length=64,
        json_schema_extra=kube(list_type="map", list_map_keys=["name"]),
    )


class ServiceMonitor(ApiModel):
    """Create a Prometheus Operator ServiceMonitor for the scoring pods (when its CRD exists)."""

    enabled: bool = Field(default=False, description="Whether to create the ServiceMonitor.")


class Router(ApiModel):
    """The endpoint's front door: the nginx pods behind its Service."""

    replicas: int = Field(
        default=1,
        description="Router pods. With two or more, the endpoint keeps answering while one "
        "is replaced, evicted or restarted (a disruption budget lets one go at a time, and "
        "the pods are spread over nodes where there are several); with one, the endpoint's "
        "front door is a single pod.",
        ge=1,
        le=10,
    )


_IN_DEPLOYMENTS = "has(self.deployments) && self.deployments.exists(d, d.name == k)"


class OnlineEndpointSpec(ApiModel):
    """The deployments behind the endpoint and how traffic reaches them."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "!has(self.traffic) || self.traffic.size() == 0 || "
                    "self.traffic.map(k, self.traffic[k]).sum() in [0, 100]",
                    "traffic percentages must add up to 100 (or all be 0)",
                    ".traffic",
                ),
                Rule(
                    f"!has(self.traffic) || self.traffic.all(k, {_IN_DEPLOYMENTS})",
                    "traffic names a deployment that is not listed in spec.deployments",
                    ".traffic",
                ),
                Rule(
                    f"!has(self.mirrorTraffic) || self.mirrorTraffic.all(k, {_IN_DEPLOYMENTS})",
                    "mirrorTraffic names a deployment that is not listed in spec.deployments",
                    ".mirrorTraffic",
                ),
                Rule(
                    "!has(self.mirrorTraffic) || !has(self.traffic) || "
                    "self.mirrorTraffic.all(k, !(k in self.traffic) || self.traffic[k] == 0)",
                    "mirrorTraffic must go to a deployment that takes no live traffic (its "
                    "traffic must be 0)",
                    ".mirrorTraffic",
                ),
            ]
        )
    )

    auth_mode: Literal["key", "none"] = Field(
        default="key",
        description='"key": callers send "Authorization: Bearer <key>" with a key from the '
        'Secret "<endpoint>-keys"; "none": no authentication.',
    )
    traffic: dict[
        str,
        Annotated[int, Field(description="Percent of live traffic, 0 to 100.", ge=0, le=100)],
    ] = Field(
        default_factory=dict,
        description="Percent of live requests each deployment receives, for example {blue: 90, "
        "green: 10}. Must add up to 100, or 0 to stop serving. Traffic only moves to a "
        "deployment once its pods are Ready.",
        max_length=16,
    )
    mirror_traffic: dict[
        str,
        Annotated[
            int,
            Field(
                description="Percent of live requests copied, 0 to 50.",
                ge=0,
                le=MAX_MIRROR_PERCENT,
            ),
        ],
    ] = Field(
        default_factory=dict,
        description="Copy this percent of live requests to one deployment that takes no live "
        "traffic, for shadow testing; its answers are discarded. At most one entry and at most "
        "50 percent.",
        max_length=1,
    )
    deployments: list[EndpointDeployment] = Field(
        default_factory=list,
        description="Deployments of a model behind this endpoint; each gets its own pods, "
        "Service, autoscaler and disruption budget. Names are unique.",
        max_length=16,
        json_schema_extra=kube(list_type="map", list_map_keys=["name"]),
    )
    router: Router = Field(default_factory=Router)
    service_monitor: ServiceMonitor = Field(default_factory=ServiceMonitor)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    network: EndpointNetwork = Field(default_factory=EndpointNetwork)
    rollout: RolloutPolicy | None = Field(
        default=None,
        description="How a change of traffic reaches callers (canary steps, blue-green or "
        "immediate), analysed on the scoring pods' own counters and rolled back on a failed "
        "gate; progress is in status.rollout. Unset: traffic moves as soon as the deployments "
        "it moves to are Ready, unanalysed. See docs/rollouts.md.",
    )

    @model_validator(mode="after")
    def _traffic_consistent(self) -> OnlineEndpointSpec:
        # The CRD's CEL rules refuse these already; repeated here so a body that
        # skipped the API server (tests, dry runs) cannot reach the builders.
        names = [d.name for d in self.deployments]
        if len(set(names)) != len(names):
            raise ValueError("deployments: names must be unique")
        unknown = sorted((set(self.traffic) | set(self.mirror_traffic)) - set(names))
        if unknown:
            raise ValueError(f"traffic/mirrorTraffic name unknown deployments: {unknown}")
        if self.traffic and sum(self.traffic.values()) not in (0, 100):
            raise ValueError("traffic: percentages must add up to 100 (or all be 0)")
        for name in self.mirror_traffic:
            if self.traffic.get(name, 0) > 0:
                raise ValueError(f"mirrorTraffic: {name!r} already takes live traffic")
        return self

    def deployment(self, name: str) -> EndpointDeployment | None:
        """The deployment of that name, or None."""
        return next((d for d in self.deployments if d.name == name), None)


class DeploymentStatus(ApiModel):
    """Observed state of one deployment."""

    name: str = Field(description="Name of the deployment.")
    model_version: str | None = Field(
        default=None, description="Model version the deployment serves (latest resolved)."
    )
    registry_version: str | None = Field(
        default=None,
        description="For a Model that names an MLflow registered model, the registry version "
        "its pods are pinned to (with artifact.mlflow.followAlias, the version the alias "
        "pointed to when the Model last looked; see the Model's status.mlflow).",
    )
    ready_replicas: int = Field(default=0, description="Pods that are Ready.")
    replicas: int = Field(default=0, description="Pods wanted.")
    ready: bool = Field(
        default=False, description="Whether all wanted pods serve the wanted model version."
    )


class OnlineEndpointStatus(ApiModel):
    """What the operator observed and applied."""

    observed_generation: int | None = observed_generation_field()
    conditions: list[Condition] = conditions_field(
        "Current state as metav1.Conditions: Ready, Progressing and Degraded, plus Reconciling "
        "and Stalled for kstatus-based tools; with spec.monitoring also DataDrift, "
        "PerformanceDegraded and CandidateReady (these never change Ready); with spec.rollout "
        "also RolloutHealthy (False after a rollback, naming the gate)."
    )
    scoring_uri: str | None = Field(
        default=None, description="URL to send scoring requests to from inside the cluster."
    )
    traffic: dict[str, Annotated[int, Field(description="Percent of live traffic.")]] = Field(
        default_factory=dict,
        description="Traffic split callers get now: it lags spec.traffic until deployments "
        "are Ready and until no router pod with the previous split is left.",
    )
    mirror_traffic: dict[
        str, Annotated[int, Field(description="Percent of live requests copied.")]
    ] = Field(default_factory=dict, description="Mirroring the router actually applies now.")
    deployments: list[DeploymentStatus] = Field(
        default_factory=list, description="Observed state of each deployment."
    )
    monitoring: MonitoringStatus | None = None
    rollout: RolloutStatus | None = None


class OnlineEndpoint(ApiModel):
    """OnlineEndpoint is a stable scoring URI in front of one or more deployments of registered
    models. A router splits live traffic between deployments by weight, can mirror a share of it
    to one more deployment, and checks keys."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    f"self.metadata.name.size() <= {MAX_ENDPOINT_NAME}",
                    "metadata.name is too long; OnlineEndpoint names may have at most "
                    f'{MAX_ENDPOINT_NAME} characters, so that "<endpoint>-<deployment>" child '
                    "names fit in 63",
                ),
                Rule(
                    f"self.metadata.name.matches('{DEPLOYMENT_NAME_PATTERN}')",
                    "metadata.name is invalid; OnlineEndpoint names must be DNS labels starting "
                    "with a letter (they name Services)",
                ),
            ]
        )
    )
    crd: ClassVar[CustomResource] = CustomResource(
        plural="onlineendpoints",
        short_names=("oe",),
        printer_columns=(
            PrinterColumn(
                "Ready",
                READY_COLUMN_PATH,
                description="Whether every deployment that takes traffic is serving.",
            ),
            PrinterColumn(
                "Reason",
                '.status.conditions[?(@.type=="Ready")].reason',
                description="Why the endpoint is or is not Ready.",
            ),
            PrinterColumn(
                "Traffic",
                ".status.traffic",
                description="Traffic split actually applied by the router, in percent.",
            ),
            PrinterColumn(
                "URI", ".status.scoringUri", description="Scoring URI inside the cluster."
            ),
            AGE_COLUMN,
        ),
    )

    metadata: ObjectMeta
    spec: OnlineEndpointSpec
    status: OnlineEndpointStatus = Field(default_factory=OnlineEndpointStatus)


def parse_online_endpoint(body: dict[str, Any]) -> OnlineEndpoint:
    """Validate an OnlineEndpoint object (as received from the API server or Kopf)."""
    return parse_or_raise(OnlineEndpoint, "OnlineEndpoint", object_fields(body))
