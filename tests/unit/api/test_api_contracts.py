"""The JSON contracts between components: what each side may send, and how refusals read."""

from __future__ import annotations

import json

import pytest
from modelserve_api import SpecError, parse_model
from modelserve_api.baseline import BaselineError, histogram, read_baseline
from modelserve_api.conditions import object_condition, true_condition
from modelserve_api.monitoring_report import CallCounters, MonitoringReport
from modelserve_api.runtime_report import RuntimeParameters
from modelserve_api.training import parse_training_spec

SPEC = {
    "task": "classification",
    "data": {"claimName": "datasets", "path": "churn.csv", "target": "churned", "pathh": "x"},
    "estimator": {"className": "sklearn.linear_model.LogisticRegression"},
    "preprocessing": [{"className": "sklearn.preprocessing.StandardScaler", "klass": "y"}],
    "gatee": "accuracy >= 0.9",
}


def model_with(training: dict) -> dict:
    return {
        "metadata": {"name": "churn-1"},
        "spec": {
            "modelName": "churn",
            "version": "1",
            "framework": "sklearn",
            "artifact": {"uri": "pvc://models/churn/1/model.joblib"},
            "training": training,
        },
    }


def test_the_crd_type_ignores_unknown_training_fields_and_the_trainer_names_each():
    # An older operator reading a newer CRD's object must keep working.
    assert parse_model(model_with(SPEC)).spec.training.gate is None
    assert parse_training_spec(SPEC, unknown="ignore").task == "classification"
    with pytest.raises(SpecError) as refused:
        parse_training_spec(SPEC)
    assert [path for path, _ in refused.value.problems] == [
        "data.pathh",
        "preprocessing[0].klass",
        "gatee",
    ]
    assert "Extra inputs are not permitted" in str(refused.value)


def test_rules_across_fields_hold_for_the_operator_and_for_the_trainer_by_path():
    spec = {**SPEC, "metrics": ["r2"], "gate": "mse < 3"}
    with pytest.raises(SpecError, match=r"spec\.training: metrics\[0\]: 'r2' is not a classif"):
        parse_model(model_with(spec))
    with pytest.raises(SpecError) as refused:
        parse_training_spec(spec, unknown="ignore")
    assert [path for path, _ in refused.value.problems] == ["metrics[0]", "gate"]


def test_what_the_operator_writes_is_what_the_trainer_accepts():
    wire = parse_model(model_with({**SPEC, "search": {"parameters": {"C": [1, 2]}}}))
    spec = parse_training_spec(wire.spec.training.to_wire())
    assert spec.search is not None and spec.search.grid_size == 2


def test_a_baseline_that_breaks_the_contract_is_refused_naming_where(tmp_path):
    path = tmp_path / "baseline.json"
    feature = {"name": "x", "histogram": {"edges": [0.0, 1.0, 2.0], "counts": [5]}}
    path.write_text(json.dumps({"features": [feature]}))
    with pytest.raises(BaselineError, match=r"features\[0\]\.histogram: 3 edges and 1 counts"):
        read_baseline(path)
    path.write_text("{")
    with pytest.raises(BaselineError, match="not valid JSON"):
        read_baseline(path)
    feature["histogram"]["counts"] = [5, 7]
    path.write_text(
        json.dumps({"features": [feature], "sample": {"columns": ["x"], "rows": [[1.5], [None]]}})
    )
    baseline = read_baseline(path)
    assert baseline.sample.column("x") == [1.5] and baseline.sample.column("y") == []


def test_values_outside_the_training_range_fall_in_the_end_bins():
    edges = [0.0, 1.0, 2.0, 3.0]
    assert histogram([-5.0, 0.0, 0.99, 1.0, 2.5, 3.0, 99.0, float("nan"), None], edges) == [3, 1, 3]


def test_a_monitoring_report_with_features_but_no_baseline_is_refused():
    assert MonitoringReport.model_validate({}).features == []
    with pytest.raises(ValueError, match="only with a baseline"):
        MonitoringReport.model_validate({"baseline": False, "features": [{"name": "x"}]})
    counters = CallCounters.model_validate({"answered": 7, "serverErrors": 1})
    assert counters.to_wire() == {"answered": 7, "serverErrors": 1}


def test_the_runtime_report_reads_the_v2_parameters_and_ignores_the_rest():
    reported = RuntimeParameters.from_metadata(
        {
            "name": "iris",
            "parameters": {"runtime": "sklearn", "runtime_fallback": "mismatch", "n_features": 4},
        }
    )
    assert (reported.runtime, reported.runtime_fallback) == ("sklearn", "mismatch")
    assert RuntimeParameters.from_metadata({}).runtime is None
    assert set(RuntimeParameters(runtime_requested="auto").selection()) == {
        "runtime_requested",
        "runtime_fallback",
        "runtime_fallback_reason",
        "runtime_pending",
    }
    # a server older than the background check sends no runtime_pending: its choice is made
    assert reported.runtime_pending is False


def test_conditions_are_found_by_type_and_a_job_condition_counts_only_when_true():
    job = {
        "status": {
            "conditions": [
                {"type": "Failed", "status": "False"},
                {"type": "Complete", "status": "True"},
            ]
        }
    }
    assert object_condition(job, "Complete")["status"] == "True"
    assert object_condition(None, "Ready") == {} and object_condition({}, "Ready") == {}
    assert true_condition(job, "Complete") is not None
    assert true_condition(job, "Failed") is None
