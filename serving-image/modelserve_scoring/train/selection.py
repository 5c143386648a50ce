"""Cross-validation and hyper-parameter search, both on the training part only."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from modelserve_api.tasks import PRIMARY_METRIC
from modelserve_api.training import CrossValidation, TrainingSpec

from modelserve_scoring.train.errors import TrainingSpecError
from modelserve_scoring.train.metrics import natural, scorer

# Leave-one-out fits one model per row: beyond this many rows use k-fold.
MAX_LEAVE_ONE_OUT_ROWS = 1000


@dataclass(frozen=True)
class CrossValidationResult:
    """Per-fold scores of the final configuration, in the metric's own orientation."""

    strategy: str
    metric: str
    scores: list[float]

    def to_json(self) -> dict[str, Any]:
        """camelCase JSON for metrics.json."""
        values = np.asarray(self.scores)
        return {
            "strategy": self.strategy,
            "metric": self.metric,
            "folds": len(self.scores),
            "mean": float(values.mean()),
            "std": float(values.std()),
            "scores": list(self.scores),
        }


@dataclass(frozen=True)
class SearchResult:
    """The best candidate of a search."""

    method: str
    metric: str
    candidates: int
    best_params: dict[str, Any]
    best_score: float
    validated_on: str

    def to_json(self) -> dict[str, Any]:
        """camelCase JSON for metrics.json."""
        return {
            "method": self.method,
            "metric": self.metric,
            "candidates": self.candidates,
            "bestParams": self.best_params,
            "bestScore": self.best_score,
            "validatedOn": self.validated_on,
        }


def splitter(cv: CrossValidation, task: str, n_rows: int, seed: int) -> Any:
    """The fold generator: stratified k-fold for classes, k-fold otherwise, or leave-one-out."""
    from sklearn.model_selection import KFold, LeaveOneOut, StratifiedKFold

    if cv.strategy == "leaveOneOut":
        if n_rows > MAX_LEAVE_ONE_OUT_ROWS:
            raise TrainingSpecError(
                [
                    (
                        "crossValidation.strategy",
                        f"leave-one-out is for small data; the training part has {n_rows} rows "
                        f"(at most {MAX_LEAVE_ONE_OUT_ROWS}); use kfold",
                    )
                ]
            )
        return LeaveOneOut()
    if cv.folds > n_rows:
        raise TrainingSpecError(
            [
                (
                    "crossValidation.folds",
                    f"{cv.folds} folds need at least as many training rows, "
                    f"the training part has {n_rows}",
                )
            ]
        )
    if task == "classification":
        return StratifiedKFold(n_splits=cv.folds, shuffle=True, random_state=seed)
    return KFold(n_splits=cv.folds, shuffle=True, random_state=seed)


def cross_validate(
    model: Any, spec: TrainingSpec, x: pd.DataFrame, y: pd.Series | None
) -> CrossValidationResult:
    """Scores of ``model``'s configuration on each fold of the training part."""
    from sklearn.model_selection import cross_val_score

    cv = spec.cross_validation
    assert cv is not None
    metric = cv.metric or _default_cv_metric(spec)
    folds = splitter(cv, spec.task, len(x), spec.split.seed)
    scores = cross_val_score(
        model, x, y, cv=folds, scoring=scorer(spec.task, metric), error_score="raise"
    )
    return CrossValidationResult(cv.strategy, metric, [natural(metric, float(s)) for s in scores])


def _default_cv_metric(spec: TrainingSpec) -> str:
    cv = spec.cross_validation
    if cv is not None and cv.strategy == "leaveOneOut" and spec.task == "regression":
        return "mse"  # R² is undefined on one row
    return PRIMARY_METRIC[spec.task]


def search(
    model: Any,
    spec: TrainingSpec,
    space: dict[str, list[Any]],
    train: tuple[pd.DataFrame, pd.Series | None],
    validation: tuple[pd.DataFrame, pd.Series | None],
) -> SearchResult:
    """Compare candidates by CV on the training part, or on the validation part without CV.

    The winner's parameters are returned, not a refit model: the caller fits it on the
    training part alone, so its test metrics stay comparable with an unsearched run.
    """
    from sklearn.model_selection import GridSearchCV, PredefinedSplit, RandomizedSearchCV

    found = spec.search
    assert found is not None
    metric = found.metric or PRIMARY_METRIC[spec.task]
    x_train, y_train = train
    if spec.cross_validation is not None:
        x, y = x_train, y_train
        folds = splitter(spec.cross_validation, spec.task, len(x_train), spec.split.seed)
        validated_on = "crossValidation"
    else:
        x_val, y_val = validation
        x = pd.concat([x_train, x_val])
        y = None if y_train is None else pd.concat([y_train, y_val])
        # -1: always in the fitting part; 0: the one held-out fold.
        folds = PredefinedSplit(np.r_[np.full(len(x_train), -1), np.zeros(len(x_val))])
        validated_on = "validation"
    common = {
        "scoring": scorer(spec.task, metric),
        "cv": folds,
        "refit": False,
        "error_score": "raise",
        "n_jobs": 1,
    }
    if found.method == "grid":
        searcher = GridSearchCV(model, space, **common)
        candidates = found.grid_size
    else:
        candidates = min(found.iterations, math.prod(len(v) for v in space.values()))
        searcher = RandomizedSearchCV(
            model, space, n_iter=candidates, random_state=spec.split.seed, **common
        )
    searcher.fit(x, y)
    prefix_free = {name.split("__")[-1]: value for name, value in searcher.best_params_.items()}
    return SearchResult(
        method=found.method,
        metric=metric,
        candidates=candidates,
        best_params=prefix_free,
        best_score=natural(metric, float(searcher.best_score_)),
        validated_on=validated_on,
    )
