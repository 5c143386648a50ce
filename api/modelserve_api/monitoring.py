"""Typed `OnlineEndpoint.spec.monitoring` (drift and performance thresholds, retraining) and
`OnlineEndpoint.status.monitoring`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from .common import DNS_LABEL, ApiModel
from .markers import Rule, kube
from .monitoring_report import CallCounters
from .training import TrainingSpec

# Common reading of PSI: < 0.1 stable, 0.1-0.25 a moderate shift, > 0.25 a large one.
DEFAULT_PSI_THRESHOLD = 0.2
# KS: drift when the two samples are this unlikely to come from one distribution. Strict,
# because every feature is tested on every check: at 0.01, ten features checked every few
# minutes would raise a false alarm within the hour.
DEFAULT_KS_P_VALUE = 0.001
MAX_PROMOTION_STEPS = 10


class DriftSettings(ApiModel):
    """How a feature's live distribution is compared with its training baseline."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "!has(self.threshold) || self.method != 'ks' || self.threshold < 1.0",
                    "with method ks the threshold is a p-value and must be below 1",
                    ".threshold",
                )
            ]
        )
    )

    method: Literal["psi", "ks"] = Field(
        default="psi",
        description='"psi": population stability index over the baseline\'s histogram bins (a '
        'feature drifted when PSI > threshold); "ks": two-sample Kolmogorov-Smirnov test on '
        "samples (drifted when its p-value < threshold).",
    )
    # PSI above it, or a KS p-value below it, is drift; unset: the method's default.
    threshold: float | None = Field(
        default=None,
        description="PSI above which a feature drifted (default 0.2), or KS p-value below which "
        "it drifted (default 0.001).",
        gt=0,
    )
    min_rows: int = Field(
        default=200, description="Live rows a feature needs before it is judged at all.", ge=1
    )

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
    """When the rolling accuracy or error computed from ground truth (POST /feedback) counts as
    degraded."""

    min_accuracy: float | None = Field(
        default=None,
        description="Classifiers are degraded when their rolling accuracy falls below this.",
        ge=0,
        le=1,
    )
    max_error: float | None = Field(
        default=None,
        description="Regressors are degraded when their rolling MAE rises above this.",
        ge=0,
    )
    min_feedback_rows: int = Field(
        default=100, description="Labelled rows needed before performance is judged.", ge=1
    )

    @model_validator(mode="after")
    def _one_threshold(self) -> PerformanceSettings:
        if self.min_accuracy is not None and self.max_error is not None:
            raise ValueError("performance: give minAccuracy or maxError, not both")
        return self


PromotionStep = Annotated[
    int,
    Field(
        description="Percent of the traffic the old and new deployments hold together.",
        ge=1,
        le=100,
    ),
]


class Retrain(ApiModel):
    """On a crossing, register the next Model version (trained from template) and, once it
    passes its gate, report it or promote it. At most one retrained version is made per serving
    version; delete a failed one to allow another."""

    template: TrainingSpec = Field(
        description="The training block of the retrained Model (the shape of "
        "Model.spec.training, checked by the same rules); its data may point at newer data."
    )
    artifact_claim_name: str | None = Field(
        default=None,
        description="Claim the retrained artifact is written to, as "
        "pvc://<claim>/<modelName>/<version>/model.joblib. Default: the claim of the serving "
        "Model's pvc:// artifact.",
        min_length=1,
        max_length=253,
        pattern=DNS_LABEL,
    )
    promotion: Literal["auto", "manual"] = Field(
        default="manual",
        description='"manual": only report a candidate that passed its gate (condition '
        'CandidateReady and an Event); "auto": serve it next to the deployment it replaces and '
        "move traffic to it in steps, in status only (spec.rollout, or else these steps with one "
        "5xx rolling back), then wait for the spec to name it. The spec is never written.",
    )
    steps: list[PromotionStep] = Field(
        default=[10, 50, 100],
        description="Traffic percentages of the new deployment for automatic promotion when the "
        "endpoint has no spec.rollout, rising and ending at 100. Each step waits intervalSeconds "
        "and at least one call answered; one 5xx sends the traffic back.",
        min_length=1,
        max_length=MAX_PROMOTION_STEPS,
        json_schema_extra=kube(
            rules=[
                Rule("self[self.size() - 1] == 100", "the last step must be 100"),
                Rule(
                    "self.size() == 1 || self.all(s, self.exists_one(t, t == s))",
                    "steps must not repeat",
                ),
                Rule(
                    "self.size() < 2 || "
                    f"{list(range(1, MAX_PROMOTION_STEPS))}"
                    ".all(i, i >= self.size() || self[i - 1] < self[i])",
                    "steps must rise",
                ),
            ]
        ),
    )

    @model_validator(mode="after")
    def _steps_rise_to_100(self) -> Retrain:
        if any(a >= b for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("retrain.steps must rise")
        if self.steps[-1] != 100:
            raise ValueError("retrain.steps: the last step must be 100")
        return self


class Monitoring(ApiModel):
    """Watch the deployments in production: on a timer the operator reads each serving
    deployment's live feature statistics and rolling accuracy (or error) from one Ready scoring
    pod, compares them with the training baseline and these thresholds, and sets the DataDrift
    and PerformanceDegraded conditions (with an Event on each change). The endpoint keeps
    serving either way. With retrain set, a crossing registers a retrained Model version and
    promotes it. See docs/lifecycle.md."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "!has(self.performance) || !has(self.performance.minAccuracy) || "
                    "!has(self.performance.maxError)",
                    "give performance.minAccuracy (classifiers) or performance.maxError "
                    "(regressors), not both",
                    ".performance",
                )
            ]
        )
    )

    enabled: bool = Field(
        default=False, description="Whether the operator checks this endpoint at all."
    )
    interval_seconds: int = Field(
        default=60,
        description="Seconds between two checks; also the analysis interval of automatic "
        "promotion when the endpoint has no spec.rollout.",
        ge=10,
        le=86400,
    )
    drift: DriftSettings = Field(default_factory=DriftSettings)
    performance: PerformanceSettings = Field(default_factory=PerformanceSettings)
    retrain: Retrain | None = None


class DeploymentMonitoringStatus(ApiModel):
    """One deployment's live window."""

    name: str = Field(description="Name of the deployment.")
    model_version: str | None = Field(default=None, description="Model version its pods serve.")
    rows: int = Field(default=0, description="Rows in the live window.")
    feedback_rows: int | None = Field(
        default=None, description="Labelled rows in the feedback window."
    )
    accuracy: float | None = Field(default=None, description="Rolling accuracy (classifiers).")
    mae: float | None = Field(default=None, description="Rolling mean absolute error (regressors).")
    drifted: list[Annotated[str, Field(description="Feature name.")]] | None = Field(
        default=None, description="Features over their drift threshold."
    )
    error: str | None = Field(
        default=None, description="Why the deployment could not be checked, if it could not."
    )


class RetrainStatus(ApiModel):
    """The retrained version made on the last crossing and its promotion."""

    model: str | None = Field(default=None, description="Name of the retrained Model object.")
    version: str | None = Field(default=None, description="Its version.")
    base_version: str | None = Field(
        default=None, description="The serving version it was retrained from."
    )
    from_deployment: str | None = Field(
        default=None, description="The deployment that served baseVersion."
    )
    deployment: str | None = Field(
        default=None,
        description="The candidate deployment automatic promotion serves it with (from "
        "status until the spec names it).",
    )
    state: str | None = Field(
        default=None,
        description="Training, GateFailed, CandidateReady (manual promotion), Promoting (the "
        "candidate is rolled out from status), AwaitingCommit (it serves; the spec does not "
        "name it yet), Promoted or RolledBack.",
    )
    traffic_percent: int | None = Field(
        default=None, description="Written by operators before rollouts; no longer set."
    )
    step_time: str | None = Field(
        default=None,
        description="Written by operators before rollouts; no longer set.",
        json_schema_extra=kube(format="date-time"),
    )
    ready_since: str | None = Field(
        default=None,
        description="Written by operators before rollouts; no longer set.",
        json_schema_extra=kube(format="date-time"),
    )
    step_calls: dict[str, CallCounters] | None = Field(
        default=None,
        description="Written by operators before rollouts (see status.rollout.stepCalls); no "
        "longer set.",
    )
    message: str | None = Field(default=None, description="Details of the state.")


class MonitoringStatus(ApiModel):
    """What the last monitoring check found and where retraining stands."""

    last_check_time: str | None = Field(
        default=None,
        description="When the operator last read the scoring pods' monitoring.",
        json_schema_extra=kube(format="date-time"),
    )
    deployments: list[DeploymentMonitoringStatus] | None = Field(
        default=None, description="Per serving deployment, what its scoring pod reported."
    )
    retrain: RetrainStatus | None = None
