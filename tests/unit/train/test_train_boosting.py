"""XGBoost and LightGBM through the trainer: allow-listed, seeded, and loadable by the server."""

from __future__ import annotations

import json

import numpy as np
import pytest
from modelserve_api.training import EXIT_DATA, EXIT_SPEC
from modelserve_scoring.cli import main
from modelserve_scoring.runtime.sklearn_runtime import SklearnRuntime
from sklearn.datasets import load_diabetes, load_iris
from train_helpers import write_spec

CASES = [
    ("classification", "iris", "xgboost.XGBClassifier", {"n_estimators": 20, "max_depth": 3}),
    ("classification", "iris", "lightgbm.LGBMClassifier", {"n_estimators": 20}),
    # shallow and slow: the default depth overfits diabetes' 309 training rows
    (
        "regression",
        "diabetes",
        "xgboost.XGBRegressor",
        {"n_estimators": 50, "max_depth": 2, "learning_rate": 0.1},
    ),
    (
        "regression",
        "diabetes",
        "lightgbm.LGBMRegressor",
        {"n_estimators": 50, "num_leaves": 4, "learning_rate": 0.1},
    ),
]


def _spec(task: str, dataset: str, class_name: str, params: dict) -> dict:
    return {
        "task": task,
        "data": {"dataset": dataset},
        "estimator": {"className": class_name, "params": params},
        "preprocessing": [{"className": "sklearn.preprocessing.StandardScaler"}],
        "split": {"train": 0.7, "validation": 0.15, "test": 0.15, "seed": 7},
    }


def _train(tmp_path, spec: dict, name: str) -> tuple[dict, SklearnRuntime]:
    output = tmp_path / name / "model.joblib"
    termination = tmp_path / f"{name}.termination"
    termination.touch()  # the kubelet makes it; the trainer writes into it
    argv = ["train", "--spec", str(write_spec(tmp_path, spec)), "--output", str(output)]
    assert main([*argv, "--termination-message-path", str(termination)]) == 0
    summary = json.loads(termination.read_text())
    runtime = SklearnRuntime(output, summary["artifact"]["sha256"])
    runtime.load()
    return summary, runtime


@pytest.mark.parametrize(("task", "dataset", "class_name", "params"), CASES)
def test_boosted_estimators_train_in_a_pipeline_and_the_server_loads_them(
    tmp_path, task, dataset, class_name, params
):
    spec = _spec(task, dataset, class_name, params)
    summary, runtime = _train(tmp_path, spec, "first")
    library = class_name.split(".")[0]
    assert library in summary["libraryVersions"]
    metrics_file = json.loads((tmp_path / "first" / "metrics.json").read_text())
    assert metrics_file["estimator"]["params"]["n_estimators"] == params["n_estimators"]
    x, _ = (load_iris if dataset == "iris" else load_diabetes)(return_X_y=True)
    predictions = runtime.predict(x[:20])
    if task == "classification":
        assert summary["classes"] == ["0", "1", "2"]
        assert runtime.has_proba
        np.testing.assert_allclose(runtime.predict_proba(x[:20]).sum(axis=1), 1.0, rtol=1e-6)
        assert summary["metrics"]["accuracy"] > 0.8
    else:
        assert summary["metrics"]["r2"] > 0.1
    # The split seed is the estimator's random_state: the same spec, the same model.
    _, again = _train(tmp_path, spec, "second")
    assert again.predict(x[:20]).tolist() == predictions.tolist()


def test_a_regressor_is_refused_for_classification_naming_the_field(tmp_path, capsys):
    spec = _spec("classification", "iris", "xgboost.XGBRegressor", {})
    argv = ["train", "--spec", str(write_spec(tmp_path, spec))]
    assert main([*argv, "--output", str(tmp_path / "m.joblib")]) == EXIT_SPEC
    error = capsys.readouterr().err
    assert "estimator.className: XGBRegressor is a regression estimator" in error


def test_an_out_of_range_value_is_reported_by_the_library_when_fitting(tmp_path, capsys):
    spec = _spec("classification", "iris", "lightgbm.LGBMClassifier", {"num_leaves": 1})
    argv = ["train", "--spec", str(write_spec(tmp_path, spec))]
    assert main([*argv, "--output", str(tmp_path / "m.joblib")]) == EXIT_DATA
    assert "num_leaves" in capsys.readouterr().err
    assert not (tmp_path / "m.joblib").exists()
