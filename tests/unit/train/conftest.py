"""Fixtures for the trainer's tests: training specs and a user-like data table."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pytest

IRIS_SPEC: dict[str, Any] = {
    "task": "classification",
    "data": {"dataset": "iris"},
    "estimator": {
        "className": "sklearn.linear_model.LogisticRegression",
        "params": {"C": 0.5, "max_iter": 500},
    },
    "preprocessing": [{"className": "sklearn.preprocessing.StandardScaler"}],
    "split": {"train": 0.7, "validation": 0.15, "test": 0.15, "seed": 7},
}


@pytest.fixture
def iris_spec() -> dict[str, Any]:
    """A classification spec on the bundled iris data (a fresh copy per test)."""
    return copy.deepcopy(IRIS_SPEC)


@pytest.fixture
def churn_frame() -> pd.DataFrame:
    """A small binary-classification table with named columns, as a user's CSV would hold."""
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, n).astype(float),
            "monthly": rng.normal(70, 20, n),
            "tickets": rng.poisson(1.5, n).astype(float),
        }
    )
    logit = -0.05 * frame["tenure"] + 0.03 * (frame["monthly"] - 70) + 0.6 * frame["tickets"]
    frame["churned"] = (logit + rng.normal(0, 1, n) > 0).astype(int)
    return frame
