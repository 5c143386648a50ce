"""Monitoring decisions: /monitoring body to verdicts to conditions; versions; promotion."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import yaml
from modelserve_api import SpecError, parse_online_endpoint
from modelserve_api import conditions as cond
from modelserve_api.monitoring import DriftSettings, PerformanceSettings, Retrain
from modelserve_api.monitoring_report import MonitoringReport, RollingPerformance
from modelserve_operator.builders.retrain import (
    build_promoted_deployment,
    build_retrained_model,
    promoted_deployment_name,
)
from modelserve_operator.monitoring import (
    DATA_DRIFT,
    PERFORMANCE_DEGRADED,
    check_deployment,
    judge_drift,
    judge_performance,
    monitoring_conditions,
    next_version,
    without_monitoring_conditions,
)
from modelserve_operator.reconcilers.status import status_patch
from modelserve_scoring.train.baseline import bin_counts

ROOT = Path(__file__).resolve().parents[3]
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
TEMPLATE = {
    "task": "classification",
    "data": {"dataset": "iris"},
    "estimator": {"className": "sklearn.linear_model.LogisticRegression"},
    "gate": "accuracy >= 0.8",
}


def monitoring_body(
    shift: float = 0.0,
    rows: int = 2000,
    seed: int = 1,
    accuracy: float | None = 0.95,
    feedback_rows: int = 300,
) -> dict:
    """A GET /monitoring answer for features 'a' and 'b'; 'a' drawn with `shift` added."""
    rng = np.random.default_rng(0)
    baseline = {"a": rng.normal(0, 1, 5000), "b": rng.uniform(0, 10, 5000)}
    live_rng = np.random.default_rng(seed)
    live = {"a": live_rng.normal(shift, 1, rows), "b": live_rng.uniform(0, 10, rows)}
    features = []
    for name, values in baseline.items():
        edges = np.quantile(values, np.linspace(0, 1, 11)).tolist()
        live_counts = bin_counts(live[name], edges)
        features.append(
            {
                "name": name,
                "edges": edges,
                "baselineCounts": bin_counts(values, edges),
                "liveCounts": live_counts,
                "baselineSample": values[:500].tolist(),
                "liveSample": live[name][:500].tolist(),
            }
        )
    return {
        "deployment": "blue",
        "model": {"name": "iris", "version": "1"},
        "rows": rows,
        "baseline": True,
        "features": features,
        "performance": {
            "task": "classification",
            "feedbackRows": feedback_rows,
            "accuracy": accuracy,
            "mae": None,
            "rmse": None,
        },
    }


# -- drift ------------------------------------------------------------------------


def report(**changes) -> MonitoringReport:
    return MonitoringReport.model_validate(monitoring_body(**changes))


@pytest.mark.parametrize("method", ["psi", "ks"])
def test_only_the_shifted_feature_drifts(method):
    settings = DriftSettings(method=method)
    unshifted = judge_drift(report(shift=0.0), settings)
    shifted = judge_drift(report(shift=1.5), settings)
    assert unshifted is not None and shifted is not None
    assert not unshifted.has_drift
    assert [f.feature for f in shifted.drifted] == ["a"]
    assert "a " in shifted.message()


def test_too_few_rows_are_not_judged_and_no_baseline_means_no_verdict():
    few = judge_drift(report(shift=3.0, rows=50), DriftSettings(minRows=200))
    assert few is not None and few.features == [] and set(few.skipped) == {"a", "b"}
    without = MonitoringReport.model_validate(
        {**monitoring_body(), "baseline": False, "features": []}
    )
    assert judge_drift(without, DriftSettings()) is None


def test_mismatched_bins_are_skipped_with_a_reason():
    body = monitoring_body()
    body["features"][0]["liveCounts"] = [1, 2, 3]
    verdict = judge_drift(MonitoringReport.model_validate(body), DriftSettings())
    assert verdict is not None
    assert "do not match" in verdict.skipped["a"]


def test_a_body_that_is_not_a_monitoring_report_is_not_judged():
    body = {**monitoring_body(), "baseline": False}  # features without a baseline
    with pytest.raises(ValueError, match="features are reported only with a baseline"):
        check_deployment("blue", body, DriftSettings(), PerformanceSettings())


# -- performance ------------------------------------------------------------------


def test_accuracy_below_the_threshold_is_degraded_only_with_enough_feedback():
    settings = PerformanceSettings(minAccuracy=0.9, minFeedbackRows=100)
    low = judge_performance(report(accuracy=0.6).performance, settings)
    assert low.degraded is True and "0.6" in low.message and "below 0.9" in low.message
    fine = judge_performance(report(accuracy=0.95).performance, settings)
    assert fine.degraded is False
    few = judge_performance(report(accuracy=0.1, feedback_rows=20).performance, settings)
    assert few.degraded is None and "fewer than minFeedbackRows 100" in few.message


def test_regression_error_above_max_error_is_degraded():
    settings = PerformanceSettings(maxError=5.0)
    body = {"task": "regression", "feedbackRows": 500, "accuracy": None, "mae": 7.5, "rmse": 9.0}
    performance = RollingPerformance.model_validate(body)
    verdict = judge_performance(performance, settings)
    assert verdict.degraded is True and "MAE 7.5" in verdict.message
    no_threshold = judge_performance(performance, PerformanceSettings(minAccuracy=0.9))
    assert no_threshold.degraded is None and "maxError" in no_threshold.message


# -- conditions -------------------------------------------------------------------


def _ready_conditions():
    return cond.summarize([], cond.ready("Ready", "serving"), 3, NOW)


def test_crossings_set_conditions_and_leave_ready_alone():
    drift, perf = DriftSettings(), PerformanceSettings(minAccuracy=0.9)
    before = _ready_conditions()
    check = check_deployment("blue", monitoring_body(shift=2.0, accuracy=0.5), drift, perf)
    after, changes = monitoring_conditions(before, [check], 3, NOW)
    by_type = {c["type"]: c for c in after}
    assert by_type[DATA_DRIFT]["status"] == "True"
    assert by_type[DATA_DRIFT]["reason"] == "DriftDetected"
    assert "deployment blue: data drift in a PSI" in by_type[DATA_DRIFT]["message"]
    assert by_type[PERFORMANCE_DEGRADED]["status"] == "True"
    assert by_type[PERFORMANCE_DEGRADED]["reason"] == "AccuracyBelowThreshold"
    for summary in ("Ready", "Progressing", "Degraded", "Reconciling", "Stalled"):
        assert by_type[summary] == next(c for c in before if c["type"] == summary)
    assert {(c.type, c.status) for c in changes} == {
        (DATA_DRIFT, "True"),
        (PERFORMANCE_DEGRADED, "True"),
    }

    # The same verdict again is no change; recovering is one.
    again, changes = monitoring_conditions(after, [check], 3, NOW)
    assert changes == [] and again == after
    healthy = check_deployment("blue", monitoring_body(accuracy=0.97), drift, perf)
    recovered, changes = monitoring_conditions(after, [healthy], 3, NOW)
    assert {(c.type, c.status) for c in changes} == {
        (DATA_DRIFT, "False"),
        (PERFORMANCE_DEGRADED, "False"),
    }
    assert cond.find_condition(recovered, DATA_DRIFT)["reason"] == "NoDrift"


def test_first_unknown_is_not_an_event_and_names_why():
    check = check_deployment(
        "blue",
        {**monitoring_body(feedback_rows=3), "baseline": False, "features": []},
        DriftSettings(),
        PerformanceSettings(minAccuracy=0.9),
    )
    result, changes = monitoring_conditions([], [check], 1, NOW)
    assert changes == []
    drift = cond.find_condition(result, DATA_DRIFT)
    assert drift["status"] == "Unknown" and "no training baseline" in drift["message"]
    assert "3 labelled row(s)" in cond.find_condition(result, PERFORMANCE_DEGRADED)["message"]
    assert without_monitoring_conditions(result) == []


# -- versions and promotion ---------------------------------------------------------


def test_next_version_is_one_more_than_the_largest_numeric():
    assert next_version(["1", "2", "10", "3"]) == "11"
    assert next_version(["2024-01", "candidate"]) == "1"
    assert next_version([]) == "1"


def endpoint_with(monitoring: dict) -> dict:
    return {
        "metadata": {"name": "iris", "namespace": "ml"},
        "spec": {
            "deployments": [{"name": "blue", "model": {"name": "iris", "version": "1"}}],
            "traffic": {"blue": 100},
            "monitoring": monitoring,
        },
    }


def test_monitoring_defaults():
    monitoring = parse_online_endpoint(endpoint_with({"enabled": True})).spec.monitoring
    assert monitoring.interval_seconds == 60
    assert monitoring.drift.method == "psi" and monitoring.drift.effective_threshold == 0.2
    assert DriftSettings(method="ks").effective_threshold == 0.001
    assert monitoring.performance.min_feedback_rows == 100
    retrain = parse_online_endpoint(
        endpoint_with({"retrain": {"template": TEMPLATE}})
    ).spec.monitoring.retrain
    assert retrain is not None and retrain.promotion == "manual" and retrain.steps == [10, 50, 100]


@pytest.mark.parametrize(
    ("monitoring", "fragment"),
    [
        ({"intervalSeconds": 5}, "spec.monitoring.intervalSeconds"),
        ({"retrain": {"template": TEMPLATE, "steps": [50, 10, 100]}}, "steps must rise"),
        ({"retrain": {"template": TEMPLATE, "steps": [10, 50]}}, "last step must be 100"),
        ({"performance": {"minAccuracy": 0.9, "maxError": 1}}, "not both"),
        ({"drift": {"method": "ks", "threshold": 1.5}}, "p-value"),
        ({"retrain": {"template": {"task": "classification"}}}, "retrain.template.data"),
    ],
)
def test_invalid_monitoring_is_refused_naming_the_field(monitoring, fragment):
    with pytest.raises(SpecError, match=r"spec\.monitoring") as error:
        parse_online_endpoint(endpoint_with(monitoring))
    assert fragment in str(error.value)


def test_retrained_model_and_promoted_deployment():
    retrain = Retrain.model_validate({"template": TEMPLATE})
    model = build_retrained_model(
        namespace="ml",
        endpoint="iris",
        model_name="iris",
        version="2",
        base_version="1",
        claim="models",
        framework="sklearn",
        retrain=retrain,
        reason="DataDrift",
    )
    assert model["metadata"]["name"] == "iris-2"
    assert model["metadata"]["labels"]["modelserve.io/retrained-for"] == "iris"
    assert model["spec"]["artifact"] == {"uri": "pvc://models/iris/2/model.joblib"}
    assert model["spec"]["training"]["gate"] == "accuracy >= 0.8"
    live = {"name": "blue", "model": {"name": "iris", "version": "1"}, "instanceCount": 2}
    name = promoted_deployment_name("iris", "2")
    assert name == "iris-v2"
    promoted = build_promoted_deployment(live, name, "iris", "2")
    assert promoted == {
        "name": "iris-v2",
        "model": {"name": "iris", "version": "2"},
        "instanceCount": 2,
    }
    assert live["name"] == "blue"  # a copy, the live entry untouched
    assert promoted_deployment_name("a-very-long-model-name", "12") == "v12"


def _without_descriptions(schema):
    if isinstance(schema, dict):
        return {k: _without_descriptions(v) for k, v in schema.items() if k != "description"}
    if isinstance(schema, list):
        return [_without_descriptions(v) for v in schema]
    return schema


def test_retrain_template_is_checked_by_the_same_rules_as_model_training():
    def spec_schema(file: str) -> dict:
        crd = yaml.safe_load((ROOT / "crds" / file).read_text())
        return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]

    training = spec_schema("modelserve.io_models.yaml")["properties"]["training"]
    template = spec_schema("modelserve.io_onlineendpoints.yaml")["properties"]["monitoring"][
        "properties"
    ]["retrain"]["properties"]["template"]
    assert _without_descriptions(template) == _without_descriptions(training)


def test_status_patch_nulls_keys_removed_from_nested_maps():
    old = {"monitoring": {"retrain": {"state": "Promoting", "readySince": "t"}, "x": 1}}
    new = {"monitoring": {"retrain": {"state": "Promoted"}, "x": 1}}
    assert status_patch(old, new) == {
        "monitoring": {"retrain": {"readySince": None, "state": "Promoted"}}
    }
