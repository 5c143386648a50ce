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
# Gradient-boosted trees (issue 20): 500 trees of depth 6 on 30 features, trained on more rows
# than the others so the trees actually grow to depth 6.
GBM_TREES = 500
GBM_DEPTH = 6
GBM_FEATURES = 30
GBM_SAMPLES = 10_000


def _train_logreg(features: np.ndarray, labels: np.ndarray) -> object:
    return LogisticRegression(max_iter=1000).fit(features, labels)


def _train_random_forest(features: np.ndarray, labels: np.ndarray) -> object:
    return RandomForestClassifier(n_estimators=100, random_state=SEED).fit(features, labels)


def _train_pipeline(features: np.ndarray, labels: np.ndarray) -> object:
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=1000))])
    return pipeline.fit(features, labels)


def _train_xgboost(features: np.ndarray, labels: np.ndarray) -> object:
    from xgboost import XGBClassifier

    booster = XGBClassifier(n_estimators=GBM_TREES, max_depth=GBM_DEPTH, random_state=SEED)
    return booster.fit(features, labels)


def _train_lightgbm(features: np.ndarray, labels: np.ndarray) -> object:
    from lightgbm import LGBMClassifier

    # num_leaves 2**depth: LightGBM grows leaf-wise, and its default (31 leaves) would stop
    # short of a full depth-6 tree.
    booster = LGBMClassifier(
        n_estimators=GBM_TREES,
        max_depth=GBM_DEPTH,
        num_leaves=2**GBM_DEPTH,
        random_state=SEED,
        verbose=-1,
    )
    return booster.fit(features, labels)


def _save_xgboost_native(estimator: object, directory: Path) -> Path:
    path = directory / "model.json"
    estimator.save_model(path)
    return path


def _save_lightgbm_native(estimator: object, directory: Path) -> Path:
    path = directory / "model.txt"
    estimator.booster_.save_model(path)
    return path


# logreg and pipeline show the server's own overhead; rf100 is where scikit-learn's per-call
# cost dominates and the compiled (ONNX Runtime) path matters most.
MODEL_TRAINERS: dict[str, Callable[[np.ndarray, np.ndarray], object]] = {
    "logreg": _train_logreg,
    "rf100": _train_random_forest,
    "pipeline": _train_pipeline,
    "xgb500": _train_xgboost,
    "lgbm500": _train_lightgbm,
}
# Width of each model's input rows (N_FEATURES unless listed).
MODEL_FEATURES = {"xgb500": GBM_FEATURES, "lgbm500": GBM_FEATURES}
# The gradient-boosted models are also saved in their library's own format, from the same
# fitted booster: MLServer's XGBoost and LightGBM runtimes and KServe's boosting servers load
# that, not a pickle. Keyed by model: (library, writer).
NATIVE_FORMATS: dict[str, tuple[str, Callable[[object, Path], Path]]] = {
    "xgb500": ("xgboost", _save_xgboost_native),
    "lgbm500": ("lightgbm", _save_lightgbm_native),
}


@dataclass(frozen=True)
class BenchModel:
    """A trained artifact on disk, its digest, and the request rows it is probed with."""

    kind: str
    name: str
    directory: Path
    artifact: Path
    sha256: str
    n_features: int = N_FEATURES
    #: the same fitted model in its library's own file format, for the peers' booster runtimes
    native_library: str | None = None
    native_artifact: Path | None = None
    native_sha256: str | None = None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_model(kind: str, root: Path) -> BenchModel:
    """Train `kind` from the fixed seed and write `<root>/<kind>/model.joblib` (and, for a
    boosted model, the same booster in its native format beside it)."""
    if kind not in MODEL_TRAINERS:
        raise ValueError(f"unknown model {kind!r}; choose from {sorted(MODEL_TRAINERS)}")
    n_features = MODEL_FEATURES.get(kind, N_FEATURES)
    n_samples = GBM_SAMPLES if kind in NATIVE_FORMATS else 2000
    features, labels = make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=10, random_state=SEED
    )
    estimator = MODEL_TRAINERS[kind](features, labels)
    directory = root / kind
    directory.mkdir(parents=True, exist_ok=True)
    artifact = directory / "model.joblib"
    joblib.dump(estimator, artifact)
    native_library = native_artifact = native_sha256 = None
    if kind in NATIVE_FORMATS:
        native_library, write_native = NATIVE_FORMATS[kind]
        native_artifact = write_native(estimator, directory)
        native_sha256 = sha256_of(native_artifact)
    return BenchModel(
        kind=kind,
        name=f"bench-{kind}",
        directory=directory,
        artifact=artifact,
        sha256=sha256_of(artifact),
        n_features=n_features,
        native_library=native_library,
        native_artifact=native_artifact,
        native_sha256=native_sha256,
    )


def request_rows(rows: int, n_features: int = N_FEATURES) -> np.ndarray:
    """Deterministic feature rows, the same for every server and every round."""
    # Rounded so the JSON text and the expected predictions describe the same numbers.
    return np.round(np.random.default_rng(SEED + rows).normal(size=(rows, n_features)), 6)


def expected_predictions(model: BenchModel, rows: np.ndarray) -> list[float]:
    return [float(v) for v in joblib.load(model.artifact).predict(rows).ravel()]


def expected_probabilities(model: BenchModel, rows: np.ndarray) -> list[float]:
    """P(class 1) per row: what a binary booster's own `predict` answers (no labels)."""
    return [float(v) for v in joblib.load(model.artifact).predict_proba(rows)[:, 1]]


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
