"""Ground truth for past predictions: request ids remembered with their predictions, POST /feedback
parsing, and the rolling window of correctness (accuracy, or MAE and RMSE for regressors)."""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from modelserve_scoring import codecs
from modelserve_scoring.errors import BadRequest, Conflict, NotFound, Unprocessable

Task = Literal["classification", "regression"]


class _Remembered:
    __slots__ = ("answered", "predictions")

    def __init__(self, predictions: np.ndarray) -> None:
        self.predictions = predictions
        self.answered = False


class PredictionMemory:
    """The last `capacity` request ids and their predictions (one per row), oldest forgotten."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, _Remembered] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, request_id: str, predictions: np.ndarray) -> None:
        """Keep a copy (a slice of a micro-batch would keep the whole batch alive)."""
        if self.capacity <= 0:
            return
        entries = self._entries
        entries[request_id] = _Remembered(predictions.copy())
        entries.move_to_end(request_id)  # a reused id counts as new
        if len(entries) > self.capacity:
            entries.popitem(last=False)

    def lookup(self, request_id: str) -> _Remembered:
        """The entry of a request id; 404 if forgotten or never seen, 409 if already labelled."""
        entry = self._entries.get(request_id)
        if entry is None:
            raise NotFound(
                f"requestId {request_id!r} is unknown here: it is not among the last "
                f"{self.capacity} predictions this instance made (MODELSERVE_FEEDBACK_MEMORY); "
                "feedback must reach the instance that answered the prediction"
            )
        if entry.answered:
            raise Conflict(f"feedback for requestId {request_id!r} was already recorded")
        return entry


@dataclass(frozen=True, slots=True)
class FeedbackRequest:
    """A parsed POST /feedback body."""

    request_id: str
    labels: list[Any]
    single: bool  # sent as "label" (one row) rather than "labels"


def parse_feedback(body: bytes) -> FeedbackRequest:
    """`{"requestId", "labels": [...]}` or `{"requestId", "label"}`; errors name the field."""
    payload = codecs.loads(body)
    if not isinstance(payload, dict):
        raise BadRequest('body must be a JSON object with "requestId" and "labels"')
    request_id = payload.get("requestId")
    if request_id is None:
        raise Unprocessable("requestId is missing: send the x-request-id of the prediction")
    if not isinstance(request_id, str) or not request_id:
        raise Unprocessable(f"requestId must be a non-empty string, got {request_id!r}")
    has_labels, has_label = "labels" in payload, "label" in payload
    if has_labels and has_label:
        raise Unprocessable('send either "labels" (one per row) or "label" (one row), not both')
    if has_label:
        return FeedbackRequest(request_id, [payload["label"]], single=True)
    if not has_labels:
        raise Unprocessable('labels is missing: send "labels" (one per row) or "label" (one row)')
    labels = payload["labels"]
    if not isinstance(labels, list) or not labels:
        raise Unprocessable("labels must be a non-empty list, one label per scored row")
    return FeedbackRequest(request_id, labels, single=False)


def _field(request: FeedbackRequest, index: int) -> str:
    return "label" if request.single else f"labels[{index}]"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_labels(request: FeedbackRequest, task: Task, rows: int) -> None:
    """422 naming the field when labels do not fit the prediction (count, type)."""
    if len(request.labels) != rows:
        if request.single:
            raise Unprocessable(
                f"label gives one row but request {request.request_id!r} scored {rows} rows; "
                "send labels, one per row"
            )
        raise Unprocessable(
            f"labels has {len(request.labels)} values but request {request.request_id!r} "
            f"scored {rows} rows"
        )
    for index, label in enumerate(request.labels):
        field = _field(request, index)
        if label is None:
            raise Unprocessable(f"{field} is null")
        if task == "regression":
            if not _is_number(label) or not math.isfinite(label):
                raise Unprocessable(
                    f"{field} must be a finite number (this model is a regressor), got {label!r}"
                )
        elif not isinstance(label, str | int | float):
            raise Unprocessable(
                f"{field} must be a class label (string, number or boolean), got "
                f"{type(label).__name__}"
            )


def outcomes(task: Task, predictions: np.ndarray, labels: list[Any]) -> np.ndarray:
    """Per row: 1.0/0.0 (prediction correct) for classifiers, label - prediction for regressors."""
    if task == "regression":
        return np.asarray(labels, dtype=np.float64) - predictions.astype(np.float64)
    if predictions.dtype.kind in "biuf" and all(isinstance(v, int | float) for v in labels):
        correct = predictions.astype(np.float64) == np.asarray(labels, dtype=np.float64)
    else:
        # string classes, or labels sent as text ("1" for class 1): compare as text
        correct = np.asarray([str(p) for p in predictions.tolist()]) == np.asarray(
            [str(v) for v in labels]
        )
    return correct.astype(np.float64)


@dataclass(frozen=True, slots=True)
class Performance:
    """Rolling correctness over the feedback window."""

    rows: int
    accuracy: float | None
    mae: float | None
    rmse: float | None


class FeedbackWindow:
    """The last `capacity` labelled rows' outcomes; `total` counts every labelled row ever."""

    def __init__(self, capacity: int) -> None:
        self._values: deque[float] = deque(maxlen=capacity)
        self.total = 0

    def add(self, values: np.ndarray) -> None:
        """Append one feedback's outcomes (see `outcomes`)."""
        self._values.extend(values.tolist())
        self.total += len(values)

    def performance(self, task: Task | None) -> Performance:
        """Accuracy (classification) or MAE and RMSE (regression); None without feedback."""
        rows = len(self._values)
        if rows == 0 or task is None:
            return Performance(rows, None, None, None)
        values = np.fromiter(self._values, dtype=np.float64, count=rows)
        if task == "classification":
            return Performance(rows, float(values.mean()), None, None)
        return Performance(
            rows, None, float(np.abs(values).mean()), float(np.sqrt(np.square(values).mean()))
        )
