"""Drift of live feature values from the training baseline: PSI per feature and two-sample KS.

Pure functions over the trainer's baseline.json (see modelserve_scoring.train.baseline)
and what the scoring server observed, as histograms over the baseline's bin edges or as
samples. A value v falls in bin i where i is the number of inner edges (edges[1:-1])
that are <= v, so values outside the training range land in the first or last bin.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

# A bin's share is floored at this so an empty bin does not make PSI infinite.
PSI_EPSILON = 1e-4
# Common reading of PSI: < 0.1 stable, 0.1-0.25 a moderate shift, > 0.25 a large one.
DEFAULT_PSI_THRESHOLD = 0.2
# KS: drift when the two samples are this unlikely to come from one distribution. Strict,
# because every feature is tested on every check: at 0.01, ten features checked every few
# minutes would raise a false alarm within the hour.
DEFAULT_KS_P_VALUE = 0.001
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


def bin_index(value: float, edges: Sequence[float]) -> int:
    """The bin of ``value`` (see the module docstring for the rule)."""
    return bisect.bisect_right(edges[1:-1], value)


def histogram(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts of ``values`` per bin of ``edges``; NaN and None are left out."""
    if len(edges) < 2:
        raise ValueError("a histogram needs at least two edges")
    counts = [0] * (len(edges) - 1)
    for value in values:
        if value is None or math.isnan(value):
            continue
        counts[bin_index(value, edges)] += 1
    return counts


def population_stability_index(
    expected: Sequence[float], actual: Sequence[float], epsilon: float = PSI_EPSILON
) -> float:
    """PSI = sum((a - e) * ln(a / e)) over bins, on shares of each histogram's total."""
    if len(expected) != len(actual):
        raise ValueError(f"histograms differ in bins: {len(expected)} vs {len(actual)}")
    expected_total, actual_total = sum(expected), sum(actual)
    if expected_total <= 0 or actual_total <= 0:
        raise ValueError("PSI needs a non-empty expected and actual histogram")
    psi = 0.0
    for e_count, a_count in zip(expected, actual, strict=True):
        e = max(e_count / expected_total, epsilon)
        a = max(a_count / actual_total, epsilon)
        psi += (a - e) * math.log(a / e)
    return psi


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


def _baseline_features(baseline: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    features = baseline.get("features")
    if not isinstance(features, list):
        raise ValueError("baseline has no 'features' list")
    return {str(f["name"]): f for f in features}


def _baseline_sample(baseline: Mapping[str, Any], feature: str) -> list[float]:
    sample = baseline.get("sample") or {}
    columns = list(sample.get("columns") or [])
    if feature not in columns:
        return []
    index = columns.index(feature)
    return [row[index] for row in sample.get("rows") or [] if row[index] is not None]


def detect_drift(
    baseline: Mapping[str, Any],
    *,
    method: Method = "psi",
    live_histograms: Mapping[str, Sequence[int]] | None = None,
    live_samples: Mapping[str, Sequence[float]] | None = None,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Compare what the server saw with the baseline, feature by feature.

    PSI uses live histograms over the baseline's edges (or bins live samples itself).
    KS compares live samples with the baseline's row sample; with histograms only, it
    compares binned CDFs. Features with too few live values are skipped, not judged.
    """
    limits = thresholds or DriftThresholds()
    live_histograms = live_histograms or {}
    live_samples = live_samples or {}
    results: list[FeatureDrift] = []
    skipped: dict[str, str] = {}
    for name, stats in _baseline_features(baseline).items():
        edges = list((stats.get("histogram") or {}).get("edges") or [])
        expected = list((stats.get("histogram") or {}).get("counts") or [])
        sample = live_samples.get(name)
        counts = live_histograms.get(name)
        if counts is None and sample is not None and len(edges) >= 2:
            counts = histogram(sample, edges)
        live_count = sum(counts) if counts is not None else len(sample or [])
        if counts is None and sample is None:
            skipped[name] = "no live data"
            continue
        if live_count < limits.min_live_count:
            skipped[name] = f"{live_count} live values, fewer than {limits.min_live_count}"
            continue
        if method == "psi":
            if counts is None or not expected or sum(expected) == 0:
                skipped[name] = "the baseline has no histogram for it"
                continue
            psi = population_stability_index(expected, counts)
            results.append(FeatureDrift(name, "psi", psi, limits.psi, psi > limits.psi, live_count))
            continue
        reference = _baseline_sample(baseline, name)
        if sample is not None and reference:
            ks = ks_two_sample(reference, sample)
        elif counts is not None and expected and sum(expected) > 0:
            ks = ks_from_histograms(expected, counts)
        else:
            skipped[name] = "neither a baseline sample nor a histogram to compare with"
            continue
        results.append(
            FeatureDrift(
                name,
                "ks",
                ks.statistic,
                limits.ks_p_value,
                ks.p_value < limits.ks_p_value,
                live_count,
                ks.p_value,
            )
        )
    return DriftReport(results, skipped)
