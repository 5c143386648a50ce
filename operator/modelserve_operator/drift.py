"""Drift of live feature values from the training baseline: PSI per feature and two-sample KS.

Pure functions over what a scoring pod reports on GET /monitoring (modelserve_api's
FeatureWindow): live counts over the baseline's bins, and samples of both sides. PSI and
the binning rule are the contract's (modelserve_api.baseline); the KS test is the
operator's own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from modelserve_api.baseline import population_stability_index
from modelserve_api.monitoring import DEFAULT_KS_P_VALUE, DEFAULT_PSI_THRESHOLD
from modelserve_api.monitoring_report import FeatureWindow

# Fewer live values than this say little either way: such features are not judged.
DEFAULT_MIN_LIVE_COUNT = 100

Method = Literal["psi", "ks"]


@dataclass(frozen=True)
class DriftThresholds:
    """When a feature counts as drifted."""

    psi: float = DEFAULT_PSI_THRESHOLD
    ks_p_value: float = DEFAULT_KS_P_VALUE
    min_live_count: int = DEFAULT_MIN_LIVE_COUNT

    def __post_init__(self) -> None:
        if self.psi <= 0:
            raise ValueError(f"psi threshold must be positive, got {self.psi}")
        if not 0 < self.ks_p_value < 1:
            raise ValueError(f"ks p-value threshold must be in (0, 1), got {self.ks_p_value}")
        if self.min_live_count < 1:
            raise ValueError(f"min live count must be at least 1, got {self.min_live_count}")


@dataclass(frozen=True)
class KsResult:
    """Two-sample Kolmogorov-Smirnov statistic D and its asymptotic p-value."""

    statistic: float
    p_value: float


@dataclass(frozen=True)
class FeatureDrift:
    """The verdict on one feature."""

    feature: str
    method: Method
    value: float
    threshold: float
    drifted: bool
    live_count: int
    p_value: float | None = None

    def describe(self) -> str:
        """One phrase for a condition message, e.g. 'x1 PSI 0.31 > 0.2'."""
        if self.method == "psi":
            return f"{self.feature} PSI {self.value:.3g} (threshold {self.threshold:g})"
        return (
            f"{self.feature} KS D {self.value:.3g}, p {self.p_value:.3g} "
            f"(threshold p < {self.threshold:g})"
        )


@dataclass(frozen=True)
class DriftReport:
    """Per-feature verdicts, and the features that could not be judged (with why)."""

    features: list[FeatureDrift]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def drifted(self) -> list[FeatureDrift]:
        """The features over their threshold."""
        return [f for f in self.features if f.drifted]

    @property
    def has_drift(self) -> bool:
        """Whether any feature drifted."""
        return bool(self.drifted)

    def message(self) -> str:
        """A condition message naming the drifted features (or saying none did)."""
        if self.drifted:
            return "data drift in " + "; ".join(f.describe() for f in self.drifted)
        judged = len(self.features)
        return f"no drift in {judged} feature(s)" + (
            f"; {len(self.skipped)} not judged" if self.skipped else ""
        )


def kolmogorov_survival(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution (the limit of sqrt(n) * D)."""
    if x <= 0:
        return 1.0
    if x < 1.0:
        # The theta-function form converges fast for small x.
        terms = sum(math.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * x * x)) for k in range(1, 8))
        return max(0.0, min(1.0, 1.0 - math.sqrt(2 * math.pi) / x * terms))
    total = sum((-1) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in range(1, 101))
    return max(0.0, min(1.0, 2.0 * total))


def _ks_p_value(statistic: float, n: int, m: int) -> float:
    return kolmogorov_survival(math.sqrt(n * m / (n + m)) * statistic)


def ks_two_sample(first: Sequence[float], second: Sequence[float]) -> KsResult:
    """Two-sample KS: the largest gap between the two empirical CDFs, and its p-value."""
    a = sorted(v for v in first if v is not None and not math.isnan(v))
    b = sorted(v for v in second if v is not None and not math.isnan(v))
    if not a or not b:
        raise ValueError("KS needs two non-empty samples")
    statistic = 0.0
    i = j = 0
    while i < len(a) and j < len(b):
        # Step past every copy of the smaller value in both samples, then compare.
        value = min(a[i], b[j])
        while i < len(a) and a[i] == value:
            i += 1
        while j < len(b) and b[j] == value:
            j += 1
        statistic = max(statistic, abs(i / len(a) - j / len(b)))
    return KsResult(statistic, _ks_p_value(statistic, len(a), len(b)))


def ks_from_histograms(expected: Sequence[int], actual: Sequence[int]) -> KsResult:
    """KS on two histograms over the same bins: the gap between CDFs at the bin edges.

    This sees only the edges, so it is a lower bound of the exact statistic (and its
    p-value an upper bound): binned KS misses shifts that stay within one bin.
    """
    if len(expected) != len(actual):
        raise ValueError(f"histograms differ in bins: {len(expected)} vs {len(actual)}")
    n, m = sum(expected), sum(actual)
    if n <= 0 or m <= 0:
        raise ValueError("KS needs two non-empty histograms")
    statistic = cum_e = cum_a = 0.0
    for e_count, a_count in zip(expected, actual, strict=True):
        cum_e += e_count
        cum_a += a_count
        statistic = max(statistic, abs(cum_e / n - cum_a / m))
    return KsResult(statistic, _ks_p_value(statistic, n, m))


def judge_feature(
    feature: FeatureWindow, method: Method, limits: DriftThresholds
) -> FeatureDrift | str:
    """The verdict on one feature, or why it cannot be judged.

    PSI compares the live counts with the baseline's over the same bins. KS compares the
    live sample with the baseline's; with counts only, it compares binned CDFs.
    """
    if not feature.bins_match:
        return "live counts do not match the baseline's bins"
    counts, sample = feature.live_counts, feature.live_sample
    live_count = sum(counts) if counts else len(sample)
    if not counts and not sample:
        return "no live data"
    if live_count < limits.min_live_count:
        return f"{live_count} live values, fewer than {limits.min_live_count}"
    expected = feature.baseline_counts
    if method == "psi":
        psi = population_stability_index(expected, counts) if counts else None
        if psi is None:
            return "the baseline has no histogram for it"
        return FeatureDrift(feature.name, "psi", psi, limits.psi, psi > limits.psi, live_count)
    if sample and feature.baseline_sample:
        ks = ks_two_sample(feature.baseline_sample, sample)
    elif counts and sum(expected) > 0:
        ks = ks_from_histograms(expected, counts)
    else:
        return "neither a baseline sample nor a histogram to compare with"
    drifted = ks.p_value < limits.ks_p_value
    return FeatureDrift(
        feature.name, "ks", ks.statistic, limits.ks_p_value, drifted, live_count, ks.p_value
    )


def detect_drift(
    features: Sequence[FeatureWindow],
    *,
    method: Method = "psi",
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Judge each feature; those that cannot be judged are listed with why."""
    limits = thresholds or DriftThresholds()
    judged: list[FeatureDrift] = []
    skipped: dict[str, str] = {}
    for feature in features:
        verdict = judge_feature(feature, method, limits)
        if isinstance(verdict, str):
            skipped[feature.name] = verdict
        else:
            judged.append(verdict)
    return DriftReport(judged, skipped)
