"""Fixtures for the batch runner's tests: small models saved with joblib."""

from __future__ import annotations

import hashlib
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from batch_helpers import FEATURES, N_FEATURES, SavedModel
from sklearn.linear_model import LogisticRegression


def _fit(frame: bool) -> LogisticRegression:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, N_FEATURES))
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 3] > 0).astype(int)
    return LogisticRegression().fit(pd.DataFrame(x, columns=FEATURES) if frame else x, y)


def _save(directory: Path, estimator: LogisticRegression) -> SavedModel:
    directory.mkdir(parents=True, exist_ok=True)
    artifact = directory / "model.joblib"
    joblib.dump(estimator, artifact)
    return SavedModel(artifact, hashlib.sha256(artifact.read_bytes()).hexdigest(), estimator)


@pytest.fixture(scope="session")
def array_model(tmp_path_factory: pytest.TempPathFactory) -> SavedModel:
    """A LogisticRegression fit on a bare array: it knows 4 features, no names."""
    return _save(tmp_path_factory.mktemp("array-model"), _fit(frame=False))


@pytest.fixture(scope="session")
def named_model(tmp_path_factory: pytest.TempPathFactory) -> SavedModel:
    """A LogisticRegression fit on a DataFrame: it knows its feature names x0..x3."""
    return _save(tmp_path_factory.mktemp("named-model"), _fit(frame=True))
