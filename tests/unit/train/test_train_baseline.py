"""baseline.json: statistics of the training part a drift check can compare live data with."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from modelserve_scoring.cli import main
from modelserve_scoring.train.baseline import bin_counts, build_baseline, histogram_edges
from sklearn.datasets import load_diabetes
from train_helpers import documented_split, write_spec


def test_baseline_describes_exactly_the_training_part(tmp_path):
    spec = {
        "task": "regression",
        "data": {"dataset": "diabetes"},
        "estimator": {
            "className": "sklearn.linear_model.ElasticNet",
            "params": {"alpha": 0.01, "l1_ratio": 0.5},
        },
        "split": {"seed": 17},
    }
    output = tmp_path / "model.joblib"
    assert main(["train", "--spec", str(write_spec(tmp_path, spec)), "--output", str(output)]) == 0
    baseline = json.loads((tmp_path / "baseline.json").read_text())

    x, y = load_diabetes(return_X_y=True, as_frame=True)
    train_rows, _, _ = documented_split(len(x), None, (0.7, 0.15, 0.15), 17)
    part = x.iloc[train_rows]
    assert baseline["rows"] == len(train_rows)
    assert [f["name"] for f in baseline["features"]] == list(x.columns)
    bmi = next(f for f in baseline["features"] if f["name"] == "bmi")
    values = part["bmi"].to_numpy()
    assert bmi["count"] == len(values) and bmi["missing"] == 0
    assert bmi["mean"] == pytest.approx(values.mean())
    assert bmi["std"] == pytest.approx(values.std(ddof=1))
    assert (bmi["min"], bmi["max"]) == (values.min(), values.max())
    assert bmi["quantiles"]["p50"] == pytest.approx(np.median(values))
    histogram = bmi["histogram"]
    assert len(histogram["counts"]) == len(histogram["edges"]) - 1 == 10
    assert sum(histogram["counts"]) == len(values)
    # Decile edges: each bin holds about a tenth of the training rows.
    assert max(histogram["counts"]) - min(histogram["counts"]) <= 0.05 * len(values)
    assert baseline["target"]["name"] == "target"
    assert baseline["target"]["mean"] == pytest.approx(y.iloc[train_rows].mean())
    sample = baseline["sample"]
    assert sample["columns"] == list(x.columns) and len(sample["rows"]) == 200
    rows_of_part = {tuple(row) for row in part.to_numpy().tolist()}
    assert all(tuple(row) in rows_of_part for row in sample["rows"])


def test_few_distinct_values_get_one_bin_each():
    values = np.array([0, 1, 1, 0, 1, 3, 3, 1], dtype=float)
    edges = histogram_edges(values)
    assert edges == [0.0, 0.5, 2.0, 3.0]
    assert bin_counts(values, edges) == [2, 4, 2]
    # Values outside the training range land in the outer bins.
    assert bin_counts(np.array([-5.0, 9.0]), edges) == [1, 0, 1]


def test_a_heavy_tail_of_equal_values_makes_no_empty_bins():
    values = np.r_[np.zeros(900), np.linspace(1, 100, 100)]
    edges = histogram_edges(values)
    counts = bin_counts(values, edges)
    assert all(count > 0 for count in counts)
    assert counts[0] == 900


def test_missing_values_are_counted_apart_and_nan_never_reaches_json():
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [np.nan] * 4})
    baseline = build_baseline("clustering", frame, None, seed=0)
    a, b = baseline["features"]
    assert (a["count"], a["missing"]) == (3, 1)
    assert (b["count"], b["missing"], b["mean"]) == (0, 4, None)
    assert [row[1] for row in baseline["sample"]["rows"]] == [None] * 4
    json.dumps(baseline, allow_nan=False)  # strict JSON: raises on NaN
    assert "target" not in baseline
