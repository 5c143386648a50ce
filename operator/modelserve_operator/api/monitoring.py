"""Typed `OnlineEndpoint.spec.monitoring`: drift and performance thresholds, retraining."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .common import ApiModel
from .training import TrainingSpec

DEFAULT_PSI_THRESHOLD = 0.2
DEFAULT_KS_P_VALUE = 0.001


class DriftSettings(ApiModel):
    """How a feature's live distribution is compared with its training baseline."""

    method: Literal["psi", "ks"] = "psi"
    # PSI above it, or a KS p-value below it, is drift; unset: the method's default.
    threshold: float | None = Field(default=None, gt=0)
    min_rows: int = Field(default=200, ge=1)

    @model_validator(mode="after")
    def _p_value_below_one(self) -> DriftSettings:
        if self.method == "ks" and self.threshold is not None and self.threshold >= 1:
            raise ValueError("drift.threshold: with method ks it is a p-value and must be below 1")
        return self

    @property
    def effective_threshold(self) -> float:
        """The threshold in force (the method's default when unset)."""
        if self.threshold is not None:
            return self.threshold
        return DEFAULT_PSI_THRESHOLD if self.method == "psi" else DEFAULT_KS_P_VALUE


class PerformanceSettings(ApiModel):
    """When the rolling accuracy (or error) from ground truth counts as degraded."""

    min_accuracy: float | None = Field(default=None, ge=0, le=1)
    max_error: float | None = Field(default=None, ge=0)
    min_feedback_rows: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _one_threshold(self) -> PerformanceSettings:
        if self.min_accuracy is not None and self.max_error is not None:
            raise ValueError("performance: give minAccuracy or maxError, not both")
        return self


class Retrain(ApiModel):
    """What to train on a crossing and how to promote it."""

    template: TrainingSpec
    artifact_claim_name: str | None = Field(
        default=None, min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    )
    promotion: Literal["auto", "manual"] = "manual"
    steps: list[int] = Field(default=[10, 50, 100], min_length=1, max_length=10)

    @model_validator(mode="after")
    def _steps_rise_to_100(self) -> Retrain:
        if any(not 1 <= s <= 100 for s in self.steps):
            raise ValueError("retrain.steps: each step is a percentage from 1 to 100")
        if any(a >= b for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("retrain.steps must rise")
        if self.steps[-1] != 100:
            raise ValueError("retrain.steps: the last step must be 100")
        return self


class Monitoring(ApiModel):
    """Periodic checks of drift and performance, and what to do on a crossing."""

    enabled: bool = False
    interval_seconds: int = Field(default=60, ge=10, le=86400)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    performance: PerformanceSettings = Field(default_factory=PerformanceSettings)
    retrain: Retrain | None = None


class DeploymentMonitoringStatus(ApiModel):
    """What one serving deployment's scoring pod reported at the last check."""

    name: str
    model_version: str | None = None
    rows: int = 0
    feedback_rows: int | None = None
    accuracy: float | None = None
    mae: float | None = None
    drifted: list[str] | None = None
    error: str | None = None


class CallCountersStatus(ApiModel):
    """One pod's prediction calls answered, and how many with a 5xx."""

    answered: int = 0
    server_errors: int = 0


class RetrainStatus(ApiModel):
    """The retrained version made on the last crossing, and its promotion."""

    model: str | None = None
    version: str | None = None
    base_version: str | None = None
    from_deployment: str | None = None
    deployment: str | None = None
    state: str | None = None
    traffic_percent: int | None = None
    step_time: str | None = None
    ready_since: str | None = None
    step_calls: dict[str, CallCountersStatus] | None = None
    message: str | None = None


class MonitoringStatus(ApiModel):
    """status.monitoring of an OnlineEndpoint."""

    last_check_time: str | None = None
    deployments: list[DeploymentMonitoringStatus] | None = None
    retrain: RetrainStatus | None = None
