"""Benchmark models: each is trained from a fixed seed and saved as one joblib artifact."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

N_FEATURES = 20
SEED = 20240601


def _train_logreg(features: np.ndarray, labels: np.ndarray) -> object:
    return LogisticRegression(max_iter=1000).fit(features, labels)


def _train_random_forest(features: np.ndarray, labels: np.ndarray) -> object:
    return RandomForestClassifier(n_estimators=100, random_state=SEED).fit(features, labels)


def _train_pipeline(features: np.ndarray, labels: np.ndarray) -> object:
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))])
    return pipeline.fit(features, labels)


# logreg and pipeline show the server's own overhead; rf100 is where scikit-learn's per-call
# cost dominates and the compiled (ONNX Runtime) path matters most.
MODEL_TRAINERS: dict[str, Callable[[np.ndarray, np.ndarray], object]] = {
    "logreg": _train_logreg,
    "rf100": _train_random_forest,
    "pipeline": _train_pipeline,
}


@dataclass(frozen=True)
class BenchModel:
    """A trained artifact on disk, its digest, and the request rows it is probed with."""

    kind: str
    name: str
    directory: Path
    artifact: Path
    sha256: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_model(kind: str, root: Path) -> BenchModel:
    """Train `kind` from the fixed seed and write `<root>/<kind>/model.joblib`."""
    if kind not in MODEL_TRAINERS:
        raise ValueError(f"unknown model {kind!r}; choose from {sorted(MODEL_TRAINERS)}")
    features, labels = make_classification(
        n_samples=2000, n_features=N_FEATURES, n_informative=10, random_state=SEED
    )
    estimator = MODEL_TRAINERS[kind](features, labels)
    directory = root / kind
    directory.mkdir(parents=True, exist_ok=True)
    artifact = directory / "model.joblib"
    joblib.dump(estimator, artifact)
    return BenchModel(
        kind=kind,
        name=f"bench-{kind}",
        directory=directory,
        artifact=artifact,
        sha256=sha256_of(artifact),
    )


def request_rows(rows: int) -> np.ndarray:
    """Deterministic feature rows, the same for every server and every round."""
    # Rounded so the JSON text and the expected predictions describe the same numbers.
    return np.round(np.random.default_rng(SEED + rows).normal(size=(rows, N_FEATURES)), 6)


def expected_predictions(model: BenchModel, rows: np.ndarray) -> list[float]:
    return [float(v) for v in joblib.load(model.artifact).predict(rows).ravel()]


def v2_infer_body(rows: np.ndarray) -> bytes:
    """One Open Inference Protocol v2 request, byte-identical for all servers."""
    body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(rows.shape),
                "datatype": "FP64",
                "data": [float(v) for v in rows.ravel()],
            }
        ]
    }
    return json.dumps(body, separators=(",", ":")).encode()
