"""The same spec and seed give the same metrics; another seed gives another split."""

from __future__ import annotations

import json

from modelserve_scoring.cli import main
from train_helpers import write_spec


def _metrics_document(spec, directory):
    directory.mkdir()
    output = directory / "model.joblib"
    assert main(["train", "--spec", str(write_spec(directory, spec)), "--output", str(output)]) == 0
    document = json.loads((directory / "metrics.json").read_text())
    document.pop("artifact")
    document.pop("baseline")
    return document, json.loads((directory / "baseline.json").read_text())


def test_same_spec_and_seed_give_identical_metrics_and_baseline(tmp_path):
    # Randomness everywhere: a shuffled split, folds, a random search and a random forest.
    spec = {
        "task": "classification",
        "data": {"dataset": "wine"},
        "estimator": {
            "className": "sklearn.ensemble.RandomForestClassifier",
            "params": {"n_estimators": 20},
        },
        "crossValidation": {"folds": 3},
        "search": {
            "method": "random",
            "parameters": {"max_depth": [2, 3, 4, None], "min_samples_leaf": [1, 2, 4]},
            "iterations": 4,
        },
        "split": {"seed": 1234},
    }
    first, first_baseline = _metrics_document(spec, tmp_path / "first")
    second, second_baseline = _metrics_document(spec, tmp_path / "second")
    assert first == second
    assert first_baseline == second_baseline

    spec["split"]["seed"] = 99
    other, other_baseline = _metrics_document(spec, tmp_path / "other")
    assert other["seed"] == 99
    assert other_baseline["features"] != first_baseline["features"]  # another train part
