"""Metrics of a fitted model on held-out rows, and the same metrics as scorers for CV and search."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from modelserve_api.tasks import LOWER_IS_BETTER


@dataclass
class MetricReport:
    """Metric values, and for each metric that could not be computed, why."""

    values: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def _final_step(model: Any) -> Any:
    from sklearn.pipeline import Pipeline

    return model[-1] if isinstance(model, Pipeline) else model


def averaging(classes: Sequence[Any]) -> dict[str, Any]:
    """How precision, recall and F1 are averaged.

    Two classes: the usual binary scores of the positive class, the second of the model's
    sorted classes (1 for 0/1 labels). More classes: the unweighted mean over classes.
    """
    if len(classes) == 2:
        return {"average": "binary", "pos_label": classes[1]}
    return {"average": "macro", "labels": list(classes)}


def _roc_auc(model: Any, x: Any, y: Any, classes: Sequence[Any]) -> float:
    from sklearn.metrics import roc_auc_score

    if len(classes) == 2:
        if hasattr(model, "predict_proba"):
            scores = model.predict_proba(x)[:, 1]
        elif hasattr(model, "decision_function"):
            scores = model.decision_function(x)
        else:
            raise ValueError("the estimator gives neither probabilities nor decision scores")
        return float(roc_auc_score(y, scores))
    if not hasattr(model, "predict_proba"):
        raise ValueError(
            "multi-class ROC-AUC needs class probabilities (predict_proba); "
            "e.g. set probability: true on SVC or use loss: log_loss on SGDClassifier"
        )
    return float(
        roc_auc_score(y, model.predict_proba(x), multi_class="ovr", average="macro", labels=classes)
    )


def _classification(name: str, model: Any, x: Any, y: Any, predicted: Any) -> float:
    from sklearn import metrics as m

    classes = list(_final_step(model).classes_)
    if name == "accuracy":
        return float(m.accuracy_score(y, predicted))
    if name == "roc_auc":
        return _roc_auc(model, x, y, classes)
    scorer = {"precision": m.precision_score, "recall": m.recall_score, "f1": m.f1_score}[name]
    return float(scorer(y, predicted, zero_division=0, **averaging(classes)))


def _regression(name: str, y: Any, predicted: Any) -> float:
    from sklearn import metrics as m

    scorer = {"mse": m.mean_squared_error, "mae": m.mean_absolute_error, "r2": m.r2_score}[name]
    return float(scorer(y, predicted))


def embedded(model: Any, x: Any) -> Any:
    """The rows as the clustering step sees them (after any preprocessing steps)."""
    from sklearn.pipeline import Pipeline

    return model[:-1].transform(x) if isinstance(model, Pipeline) else x


def _silhouette(model: Any, x: Any, labels: Any) -> float:
    from sklearn.metrics import silhouette_score

    found = len(np.unique(labels))
    if not 2 <= found <= len(labels) - 1:
        raise ValueError(
            f"silhouette needs 2 to n-1 clusters among the {len(labels)} scored rows, found {found}"
        )
    return float(silhouette_score(embedded(model, x), labels))


def metric_value(task: str, name: str, model: Any, x: Any, y: Any, predicted: Any) -> float:
    """One metric of a fitted model on rows x (with truth y, except for clustering)."""
    if task == "classification":
        return _classification(name, model, x, y, predicted)
    if task == "regression":
        return _regression(name, y, predicted)
    return _silhouette(model, x, predicted)


def evaluate(task: str, names: Sequence[str], model: Any, x: Any, y: Any) -> MetricReport:
    """The named metrics of a fitted model on held-out rows."""
    report = MetricReport()
    if len(x) == 0:
        report.unavailable = {name: "the part holds no rows" for name in names}
        return report
    predicted = model.predict(x)
    for name in names:
        try:
            report.values[name] = metric_value(task, name, model, x, y, predicted)
        except ValueError as error:
            report.unavailable[name] = str(error)
    return report


def scorer(task: str, name: str) -> Callable[[Any, Any, Any], float]:
    """A scikit-learn scorer for CV and search: greater is better (losses are negated)."""
    sign = -1.0 if name in LOWER_IS_BETTER else 1.0

    def score(model: Any, x: Any, y: Any = None) -> float:
        return sign * metric_value(task, name, model, x, y, model.predict(x))

    return score


def natural(name: str, score: float) -> float:
    """A scorer's value back in the metric's own orientation (an MSE is positive)."""
    return -score if name in LOWER_IS_BETTER else score
