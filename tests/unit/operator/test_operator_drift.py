"""Drift math: a shifted distribution crosses the thresholds, an unshifted one does not.

The live side is what a scoring pod reports (FeatureWindow): counts over the baseline's bins
and a sample, built here from the trainer's baseline and drawn values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from modelserve_api.baseline import Baseline, histogram, population_stability_index
from modelserve_api.monitoring_report import FeatureWindow
from modelserve_operator.drift import (
    DriftThresholds,
    detect_drift,
    kolmogorov_survival,
    ks_from_histograms,
    ks_two_sample,
)
from modelserve_scoring.train.baseline import bin_counts, build_baseline
from scipy import stats


@pytest.fixture(scope="module")
def baseline():
    """A trainer baseline of three features drawn from known distributions."""
    rng = np.random.default_rng(2024)
    n = 5000
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 0.5, n),
            "plan": rng.integers(0, 3, n).astype(float),  # three distinct values
        }
    )
    return build_baseline("clustering", frame, None, seed=7)


def live(seed: int, n: int = 2000, age_shift: float = 0.0, plan_weights=(1 / 3, 1 / 3, 1 / 3)):
    rng = np.random.default_rng(seed)
    return {
        "age": list(rng.normal(40 + age_shift, 10, n)),
        "income": list(rng.lognormal(10, 0.5, n)),
        "plan": list(rng.choice([0.0, 1.0, 2.0], size=n, p=plan_weights)),
    }


def windows(baseline: dict, samples: dict, with_samples: bool = True) -> list[FeatureWindow]:
    """What a scoring pod would report for these live values."""
    parsed = Baseline.model_validate(baseline)
    return [
        FeatureWindow(
            name=f.name,
            edges=f.histogram.edges,
            baseline_counts=f.histogram.counts,
            live_counts=histogram(samples[f.name], f.histogram.edges),
            baseline_sample=parsed.sample.column(f.name),
            live_sample=samples[f.name] if with_samples else [],
        )
        for f in parsed.features
    ]


@pytest.mark.parametrize("method", ["psi", "ks"])
def test_unshifted_live_data_does_not_drift(baseline, method):
    for seed in (1, 2, 3):
        report = detect_drift(windows(baseline, live(seed)), method=method)
        assert [f.feature for f in report.features] == ["age", "income", "plan"]
        assert not report.has_drift, report.message()


@pytest.mark.parametrize("method", ["psi", "ks"])
def test_a_shifted_feature_drifts_and_only_it(baseline, method):
    report = detect_drift(windows(baseline, live(5, age_shift=8.0)), method=method)
    assert [f.feature for f in report.drifted] == ["age"]
    assert "age" in report.message() and "income" not in report.message()


@pytest.mark.parametrize("method", ["psi", "ks"])
def test_a_changed_category_mix_drifts(baseline, method):
    report = detect_drift(windows(baseline, live(6, plan_weights=(0.7, 0.2, 0.1))), method=method)
    assert [f.feature for f in report.drifted] == ["plan"]


def test_binned_ks_sees_the_shift_from_the_counts_alone(baseline):
    report = detect_drift(
        windows(baseline, live(8, age_shift=8.0), with_samples=False), method="ks"
    )
    assert [f.feature for f in report.drifted] == ["age"]
    assert all(f.p_value is not None for f in report.features)


def test_the_contract_and_the_trainer_bin_values_alike(baseline):
    values = live(9, age_shift=3.0)["age"] + [-1e9, 1e9, float("nan")]
    edges = baseline["features"][0]["histogram"]["edges"]
    assert histogram(values, edges) == bin_counts(np.array(values[:-1]), edges)


def test_thresholds_decide_and_too_little_live_data_is_not_judged(baseline):
    samples = live(10, age_shift=2.0)
    loose = detect_drift(windows(baseline, samples), thresholds=DriftThresholds(psi=5.0))
    strict = detect_drift(windows(baseline, samples), thresholds=DriftThresholds(psi=0.001))
    assert not loose.has_drift and strict.has_drift
    few = detect_drift(windows(baseline, live(11, n=50, age_shift=30.0)))
    assert few.features == [] and "50 live values" in few.skipped["age"]
    assert "3 not judged" in few.message()
    with pytest.raises(ValueError, match="ks p-value threshold"):
        DriftThresholds(ks_p_value=1.5)


def test_psi_of_identical_histograms_is_zero_and_grows_with_the_shift():
    assert population_stability_index([10, 20, 30], [1, 2, 3]) == 0.0
    small = population_stability_index([25, 25, 25, 25], [30, 25, 25, 20])
    large = population_stability_index([25, 25, 25, 25], [70, 20, 5, 5])
    assert 0 < small < 0.1 < 0.25 < large
    # An empty live bin is floored, not infinite; an empty side gives no PSI at all.
    assert math.isfinite(population_stability_index([50, 50], [100, 0]))
    assert population_stability_index([50, 50], [0, 0]) is None


def test_two_sample_ks_matches_scipy():
    rng = np.random.default_rng(12)
    a, b = rng.normal(0, 1, 400), rng.normal(0.3, 1, 300)
    ours = ks_two_sample(list(a), list(b))
    assert ours.statistic == pytest.approx(stats.ks_2samp(a, b).statistic)
    # The p-value is the Kolmogorov limit at sqrt(n m / (n + m)) D.
    scaled = math.sqrt(400 * 300 / 700) * ours.statistic
    assert ours.p_value == pytest.approx(stats.kstwobign.sf(scaled))
    # Ties (discrete values) are stepped over together, as scipy does.
    c, d = rng.integers(0, 5, 300), rng.integers(0, 6, 200)
    assert ks_two_sample(list(c), list(d)).statistic == pytest.approx(
        stats.ks_2samp(c, d).statistic
    )


@pytest.mark.parametrize("x", [0.2, 0.5, 0.9, 1.0, 1.36, 2.0, 3.0])
def test_kolmogorov_survival_matches_scipy(x):
    assert kolmogorov_survival(x) == pytest.approx(stats.kstwobign.sf(x), abs=1e-9)


def test_binned_ks_is_a_lower_bound_of_the_exact_statistic():
    rng = np.random.default_rng(13)
    a, b = rng.normal(0, 1, 1000), rng.normal(0.2, 1, 1000)
    edges = [float(e) for e in np.quantile(a, np.linspace(0, 1, 11))]
    binned = ks_from_histograms(histogram(list(a), edges), histogram(list(b), edges))
    exact = ks_two_sample(list(a), list(b))
    assert 0 < binned.statistic <= exact.statistic
