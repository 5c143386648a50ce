"""What a scoring pod answers on GET /monitoring and GET /monitoring/requests.

The scoring server writes these; the operator reads them (through the API server's pod
proxy) to judge drift and performance, and to count the calls a promoted deployment served.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .common import ApiModel

BucketBound = Annotated[float, Field(description="Upper bound, ms.")]
BucketCount = Annotated[int, Field(description="Calls in the bucket.")]


class FeatureWindow(ApiModel):
    """One feature of the live window next to its training baseline.

    ``liveCounts`` uses the baseline's bins, values outside the training range counted in
    the end bins (the rule of modelserve_api.baseline); ``underflow`` and ``overflow`` say
    how many of them fell outside.
    """

    name: str
    edges: list[float] = Field(default_factory=list)
    baseline_counts: list[int] = Field(default_factory=list)
    live_counts: list[int] = Field(default_factory=list)
    baseline_sample: list[float] = Field(default_factory=list)
    live_sample: list[float] = Field(default_factory=list)
    missing: int = 0
    underflow: int = 0
    overflow: int = 0
    psi: float | None = None

    @property
    def bins_match(self) -> bool:
        """Whether the live counts are over the baseline's bins."""
        return len(self.live_counts) == len(self.baseline_counts)


class ServedModel(ApiModel):
    """Which model version the pod serves."""

    name: str | None = None
    version: str | None = None


class RollingPerformance(ApiModel):
    """Accuracy (classifiers) or errors (regressors) over the feedback window."""

    task: Literal["classification", "regression"] | None = None
    feedback_rows: int = 0
    accuracy: float | None = None
    mae: float | None = None
    rmse: float | None = None


class MonitoringReport(ApiModel):
    """The body of GET /monitoring: the live window against the baseline, and performance."""

    deployment: str | None = None
    model: ServedModel = Field(default_factory=ServedModel)
    rows: int = 0
    # Whether the pod has a usable baseline.json (without one, features is empty).
    baseline: bool = False
    features: list[FeatureWindow] = Field(default_factory=list)
    performance: RollingPerformance = Field(default_factory=RollingPerformance)
    sample_rate: float | None = None
    window_capacity: int | None = None
    baseline_problem: str | None = None

    @model_validator(mode="after")
    def _features_need_a_baseline(self) -> MonitoringReport:
        if self.features and not self.baseline:
            raise ValueError("features are reported only with a baseline")
        return self


class CallCounters(ApiModel):
    """One pod's counters."""

    answered: int = Field(
        default=0, description="Prediction calls the pod answered since it started."
    )
    server_errors: int = Field(default=0, description="Of those, the ones answered with a 5xx.")
    latency_buckets_ms: list[BucketBound] | None = Field(
        default=None,
        description="Upper bounds of the answer-time histogram, in milliseconds (a last, "
        "unbounded bucket follows).",
    )
    latency_counts: list[BucketCount] | None = Field(
        default=None,
        description="Calls per bucket of latencyBucketsMs (not cumulative), one more entry than "
        "it has bounds.",
    )
