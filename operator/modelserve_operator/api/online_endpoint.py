"""Typed spec and status of the OnlineEndpoint kind (a scoring URI in front of deployments)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .common import (
    ApiModel,
    Condition,
    ModelReference,
    ObjectMeta,
    Resources,
    ScoringScript,
    object_fields,
    parse_or_raise,
)
from .monitoring import Monitoring, MonitoringStatus

DEPLOYMENT_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"


class Autoscale(ApiModel):
    """HorizontalPodAutoscaler bounds and target."""

    min_replicas: int = Field(default=1, ge=1, le=1000)
    max_replicas: int = Field(ge=1, le=1000)
    target_cpu_utilization_percentage: int = Field(
        default=70, ge=1, le=100, alias="targetCPUUtilizationPercentage"
    )
    scale_down_stabilization_seconds: int = Field(default=300, ge=0, le=3600)
    scale_up_stabilization_seconds: int = Field(default=0, ge=0, le=3600)

    @model_validator(mode="after")
    def _bounds_ordered(self) -> Autoscale:
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscale.minReplicas must not exceed autoscale.maxReplicas")
        return self


class RequestSettings(ApiModel):
    """How each scoring pod handles requests."""

    max_concurrent_requests_per_instance: int = Field(default=16, ge=1, le=1024)
    request_timeout_ms: int = Field(default=5000, ge=1, le=180000)
    max_batch_size: int = Field(default=32, ge=1, le=4096)
    max_batch_delay_ms: int = Field(default=2, ge=0, le=1000)


class ReadinessProbe(ApiModel):
    """Timing of the readiness probe."""

    initial_delay_seconds: int = Field(default=0, ge=0)
    period_seconds: int = Field(default=5, ge=1)
    failure_threshold: int = Field(default=3, ge=1)
    timeout_seconds: int = Field(default=2, ge=1)


class LivenessProbe(ApiModel):
    """Timing of the liveness probe; generous so a slow model load is not killed."""

    initial_delay_seconds: int = Field(default=10, ge=0)
    period_seconds: int = Field(default=10, ge=1)
    failure_threshold: int = Field(default=30, ge=1)
    timeout_seconds: int = Field(default=2, ge=1)


class Probes(ApiModel):
    """Readiness and liveness probe timing."""

    readiness: ReadinessProbe = Field(default_factory=ReadinessProbe)
    liveness: LivenessProbe = Field(default_factory=LivenessProbe)


class DataCollector(ApiModel):
    """Sampling of requests and predictions for monitoring."""

    enabled: bool = False
    sampling_rate: float = Field(default=1.0, ge=0.0, le=1.0)


class EnvVar(ApiModel):
    """An extra environment variable of the scoring container."""

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value: str = ""


class EndpointDeployment(ApiModel):
    """One model version served by its own pods behind the endpoint."""

    name: str = Field(min_length=1, max_length=22, pattern=DEPLOYMENT_NAME_PATTERN)
    model: ModelReference
    scoring_script: ScoringScript | None = None
    # Overrides the Model's spec.runtime for this deployment's pods.
    runtime: Literal["auto", "sklearn", "onnx"] | None = None
    image: str | None = None
    instance_count: int = Field(default=1, ge=0, le=1000)
    autoscale: Autoscale | None = None
    resources: Resources | None = None
    request_settings: RequestSettings = Field(default_factory=RequestSettings)
    probes: Probes = Field(default_factory=Probes)
    data_collector: DataCollector = Field(default_factory=DataCollector)
    env: list[EnvVar] = Field(default_factory=list)


class ServiceMonitor(ApiModel):
    """Whether to emit a Prometheus Operator ServiceMonitor."""

    enabled: bool = False


class OnlineEndpointSpec(ApiModel):
    """Deployments behind the endpoint and how traffic reaches them."""

    auth_mode: Literal["key", "none"] = "key"
    traffic: dict[str, int] = Field(default_factory=dict)
    mirror_traffic: dict[str, int] = Field(default_factory=dict)
    deployments: list[EndpointDeployment] = Field(default_factory=list)
    service_monitor: ServiceMonitor = Field(default_factory=ServiceMonitor)
    monitoring: Monitoring = Field(default_factory=Monitoring)

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
        if any(not 0 <= v <= 100 for v in self.traffic.values()):
            raise ValueError("traffic: each percentage must be between 0 and 100")
        if self.traffic and sum(self.traffic.values()) not in (0, 100):
            raise ValueError("traffic: percentages must add up to 100 (or all be 0)")
        if len(self.mirror_traffic) > 1:
            raise ValueError("mirrorTraffic: at most one deployment")
        for name, percent in self.mirror_traffic.items():
            if not 0 <= percent <= 50:
                raise ValueError("mirrorTraffic: at most 50 percent")
            if self.traffic.get(name, 0) > 0:
                raise ValueError(f"mirrorTraffic: {name!r} already takes live traffic")
        return self

    def deployment(self, name: str) -> EndpointDeployment | None:
        """The deployment of that name, or None."""
        return next((d for d in self.deployments if d.name == name), None)


class DeploymentStatus(ApiModel):
    """Observed state of one deployment."""

    name: str
    model_version: str | None = None
    ready_replicas: int = 0
    replicas: int = 0
    ready: bool = False


class OnlineEndpointStatus(ApiModel):
    """What the operator observed and applied."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    scoring_uri: str | None = None
    traffic: dict[str, int] = Field(default_factory=dict)
    mirror_traffic: dict[str, int] = Field(default_factory=dict)
    deployments: list[DeploymentStatus] = Field(default_factory=list)
    monitoring: MonitoringStatus | None = None


class OnlineEndpoint(ApiModel):
    """An OnlineEndpoint object as the operator sees it."""

    metadata: ObjectMeta
    spec: OnlineEndpointSpec
    status: OnlineEndpointStatus = Field(default_factory=OnlineEndpointStatus)


def parse_online_endpoint(body: dict[str, Any]) -> OnlineEndpoint:
    """Validate an OnlineEndpoint object (as received from the API server or Kopf)."""
    return parse_or_raise(OnlineEndpoint, "OnlineEndpoint", object_fields(body))
