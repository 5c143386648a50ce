"""The gate: a small grammar (no eval), and a failed gate leaves no servable artifact behind."""

from __future__ import annotations

import json
import re

import pytest
from modelserve_api.training import EXIT_GATE_FAILED, EXIT_OK
from modelserve_scoring.cli import main
from modelserve_scoring.train import parse_gate
from train_helpers import write_spec


@pytest.mark.parametrize(
    ("expression", "metrics", "passed"),
    [
        ("accuracy >= 0.88", {"accuracy": 0.88}, True),
        ("accuracy >= 0.88", {"accuracy": 0.8799}, False),
        ("accuracy>0.5", {"accuracy": 0.5}, False),
        ("mse < 3000 and r2 >= .4", {"mse": 2999.0, "r2": 0.41}, True),
        ("mse < 3000 and r2 >= .4", {"mse": 2999.0, "r2": 0.39}, False),
        ("mae <= 50", {"mae": 50.0}, True),
        ("silhouette == 1", {"silhouette": 1.0}, True),
        ("r2 > -0.5", {"r2": -0.4}, True),
    ],
)
def test_gate_compares_metrics(expression, metrics, passed):
    assert parse_gate(expression).evaluate(metrics).passed is passed


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("", "empty"),
        ("accuracy", "'<metric> <operator> <number>'"),
        ("accuracy => 0.9", "'<metric> <operator> <number>'"),
        ("accuracy >= high", "not a number"),
        ("accuracy >= 0.9 or f1 > 0.8", "'<metric> <operator> <number>'"),
        ("__import__('os').system('id') > 0", "'<metric> <operator> <number>'"),
        ("Accuracy >= 0.9", "lower-case"),
        ("accuracy >= 0.9 and", "'<metric> <operator> <number>'"),
        ("accuracy >= 1e-3", "not a number"),
    ],
)
def test_malformed_gates_are_refused_with_a_reason(expression, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        parse_gate(expression)


def test_a_missing_metric_fails_its_clause_and_says_why():
    result = parse_gate("roc_auc >= 0.9").evaluate({}, {"roc_auc": "needs predict_proba"})
    assert not result.passed
    assert "roc_auc unavailable: needs predict_proba" in result.message()


def test_passing_gate_writes_artifact_digest_baseline_and_metrics(iris_spec, tmp_path, capsys):
    iris_spec["gate"] = "accuracy >= 0.8 and f1 >= 0.8"
    output = tmp_path / "out" / "iris" / "model.joblib"
    code = main(["train", "--spec", str(write_spec(tmp_path, iris_spec)), "--output", str(output)])
    assert code == EXIT_OK
    written = json.loads((output.parent / "metrics.json").read_text())
    assert written["result"] == "succeeded"
    assert written["gate"]["passed"] is True
    assert [c["metric"] for c in written["gate"]["clauses"]] == ["accuracy", "f1"]
    digest_line = (output.parent / "model.joblib.sha256").read_text()
    assert digest_line == f"{written['artifact']['sha256']}  model.joblib\n"
    assert (output.parent / "baseline.json").is_file()
    assert "passed" in capsys.readouterr().out


def test_failing_gate_exits_3_names_the_metric_and_writes_no_artifact(iris_spec, tmp_path, capsys):
    iris_spec["gate"] = "accuracy >= 0.999"
    iris_spec["estimator"]["params"] = {"C": 0.0001, "max_iter": 500}  # far too regularised
    output = tmp_path / "out" / "model.joblib"
    code = main(["train", "--spec", str(write_spec(tmp_path, iris_spec)), "--output", str(output)])
    assert code == EXIT_GATE_FAILED
    message = capsys.readouterr().err
    assert "gate 'accuracy >= 0.999' failed: accuracy = " in message
    assert "no artifact written" in message
    assert sorted(p.name for p in output.parent.iterdir()) == ["metrics.json"]
    written = json.loads((output.parent / "metrics.json").read_text())
    assert written["result"] == "gateFailed" and written["artifact"] is None
    assert written["gate"]["clauses"][0]["passed"] is False


def test_gate_on_a_metric_that_could_not_be_computed_fails(tmp_path, capsys):
    spec = {
        "task": "classification",
        "data": {"dataset": "iris"},
        "estimator": {"className": "sklearn.svm.SVC"},
        "gate": "roc_auc >= 0.5",
    }
    output = tmp_path / "model.joblib"
    code = main(["train", "--spec", str(write_spec(tmp_path, spec)), "--output", str(output)])
    assert code == EXIT_GATE_FAILED
    assert "roc_auc unavailable" in capsys.readouterr().err
    assert not output.exists()
