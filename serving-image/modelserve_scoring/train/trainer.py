"""One training run: load, split, search, cross-validate, fit, evaluate, gate, write."""

from __future__ import annotations

import logging
import platform
import sys
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from modelserve_api.baseline import BASELINE_FILE
from modelserve_api.gate import GateResult, parse_gate
from modelserve_api.training import TrainingSpec

from modelserve_scoring.train.baseline import build_baseline
from modelserve_scoring.train.data import Dataset, load_dataset
from modelserve_scoring.train.errors import DataError
from modelserve_scoring.train.estimators import build_estimator, estimator_params, search_space
from modelserve_scoring.train.metrics import evaluate
from modelserve_scoring.train.outputs import (
    METRICS_FILE,
    WrittenArtifact,
    json_bytes,
    write_artifact,
    write_atomic,
)
from modelserve_scoring.train.selection import cross_validate, search
from modelserve_scoring.train.split import SplitIndices, split_rows

log = logging.getLogger("modelserve_scoring.train")

LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")
BOOSTING_LIBRARIES = ("xgboost", "lightgbm")
MAX_WARNINGS = 10


@dataclass
class TrainingRun:
    """A fitted model and everything learnt about it; nothing written yet."""

    spec: TrainingSpec
    model: Any
    dataset: Dataset
    split: SplitIndices
    report: dict[str, Any]
    gate: GateResult | None

    @property
    def passed(self) -> bool:
        """Whether the model may be served: no gate, or a gate that held."""
        return self.gate is None or self.gate.passed


def library_versions() -> dict[str, str]:
    """Versions of the libraries the artifact depends on (and Python's)."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    # Boosting libraries count only when the spec used them, and their wheels go by more
    # than one distribution name (xgboost, xgboost-cpu): ask the module itself.
    for name in BOOSTING_LIBRARIES:
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(module.__version__)
    return versions


def _rows(dataset: Dataset, positions: Any) -> tuple[pd.DataFrame, pd.Series | None]:
    target = None if dataset.target is None else dataset.target.iloc[positions]
    return dataset.features.iloc[positions], target


def _fit_errors() -> tuple[type[BaseException], ...]:
    """What a fit raises for bad data or parameter values (the user's to fix, not a crash)."""
    errors: list[type[BaseException]] = [ValueError, TypeError]
    # XGBoostError is a ValueError already; LightGBM checks parameters in C++ and raises
    # its own, e.g. "Check failed: (num_leaves) > (1)".
    lightgbm = sys.modules.get("lightgbm")
    if lightgbm is not None:
        errors.append(lightgbm.basic.LightGBMError)
    return tuple(errors)


def _fit(model: Any, x: pd.DataFrame, y: pd.Series | None, what: str) -> None:
    try:
        model.fit(x, y)
    except _fit_errors() as error:
        raise DataError(f"estimator: fitting {what} on the training part failed: {error}") from None


def train(spec: TrainingSpec, data_root: Path) -> TrainingRun:
    """Run everything in memory: the caller decides what to write."""
    model = build_estimator(spec)  # spec errors before the data is read
    dataset = load_dataset(spec.data, spec.task, data_root)
    log.info(
        "loaded %d rows, %d features from %s",
        len(dataset.features),
        dataset.features.shape[1],
        dataset.source,
    )
    labels = dataset.target if spec.task == "classification" else None
    parts = split_rows(len(dataset.features), labels, spec.split)
    log.info("split %s (seed %d)", parts.sizes(), spec.split.seed)
    train_part, validation_part, test_part = (
        _rows(dataset, parts.train),
        _rows(dataset, parts.validation),
        _rows(dataset, parts.test),
    )
    report: dict[str, Any] = {}
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        if spec.search is not None:
            space = search_space(model, spec.search, spec.estimator)
            try:
                found = search(model, spec, space, train_part, validation_part)
            except ValueError as error:
                raise DataError(f"search failed: {error}") from None
            names = {key.split("__")[-1]: key for key in space}
            model.set_params(**{names[k]: v for k, v in found.best_params.items()})
            report["search"] = found.to_json()
            log.info(
                "search: best %s = %.4g with %s", found.metric, found.best_score, found.best_params
            )
        if spec.cross_validation is not None:
            from sklearn.base import clone

            try:
                scores = cross_validate(clone(model), spec, *train_part)
            except ValueError as error:
                raise DataError(f"crossValidation failed: {error}") from None
            report["crossValidation"] = scores.to_json()
            log.info("cross-validation %s: %s", scores.metric, scores.to_json()["mean"])
        _fit(model, *train_part, spec.estimator.short_name)
        test = evaluate(spec.task, spec.metric_names, model, *test_part)
        validation = evaluate(spec.task, spec.metric_names, model, *validation_part)
        caught = list(dict.fromkeys(str(w.message) for w in recorded))
    for message in caught[:MAX_WARNINGS]:
        log.warning("%s", message)
    gate = None
    if spec.gate:
        gate = parse_gate(spec.gate).evaluate(test.values, test.unavailable)
    report.update(
        {
            "task": spec.task,
            "estimator": {
                "className": spec.estimator.class_name,
                "params": estimator_params(model),
            },
            "preprocessing": [step.class_name for step in spec.preprocessing],
            "data": {
                "source": dataset.source,
                "rows": len(dataset.features),
                "features": list(dataset.features.columns),
                "target": None if dataset.target is None else str(dataset.target.name),
            },
            "nFeatures": dataset.features.shape[1],
            "seed": spec.split.seed,
            "splitSizes": parts.sizes(),
            "metrics": test.values,
            "validationMetrics": validation.values or None,
            "unavailableMetrics": test.unavailable or None,
            "gate": None if gate is None else gate.to_json(),
            "libraryVersions": library_versions(),
            "warnings": caught[:MAX_WARNINGS] or None,
        }
    )
    classes = getattr(model, "classes_", None)
    if spec.task == "classification" and classes is not None:
        report["classes"] = [str(c) for c in classes]
    return TrainingRun(spec, model, dataset, parts, report, gate)


def _summary_message(run: TrainingRun) -> str:
    shown = ", ".join(f"{k} = {v:.4g}" for k, v in run.report["metrics"].items())
    if run.gate is not None:
        return run.gate.message()
    return f"trained {run.spec.estimator.short_name}: {shown or 'no metrics'} (no gate)"


def write_outputs(run: TrainingRun, artifact_path: Path) -> dict[str, Any]:
    """Write metrics.json always; the artifact, its digest and baseline.json only if it passed."""
    document = dict(run.report)
    document["result"] = "succeeded" if run.passed else "gateFailed"
    document["message"] = _summary_message(run)
    directory = artifact_path.parent
    written: WrittenArtifact | None = None
    if run.passed:
        written = write_artifact(run.model, artifact_path)
        train_x, train_y = _rows(run.dataset, run.split.train)
        baseline = build_baseline(run.spec.task, train_x, train_y, run.spec.split.seed)
        write_atomic(directory / BASELINE_FILE, json_bytes(baseline))
        document["baseline"] = str(directory / BASELINE_FILE)
    document["artifact"] = None if written is None else written.to_json()
    # Written last: a metrics.json next to the artifact says the run finished.
    write_atomic(directory / METRICS_FILE, json_bytes(document))
    return document


def run_training(spec: TrainingSpec, data_root: Path, artifact_path: Path) -> dict[str, Any]:
    """Train, evaluate, gate and write; returns the metrics.json document."""
    return write_outputs(train(spec, data_root), artifact_path)
