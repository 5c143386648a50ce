"""Shadow comparison: live and mirrored (candidate) answers paired by request id, and ground
truth matched to live predictions whichever replica served them. Pure, bounded, no I/O."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

LIVE = "live"
# relative errors are |candidate - live| / max(|live|, this): a live answer of 0 stays finite
_RELATIVE_FLOOR = 1e-9
RELATIVE_ERROR_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(slots=True)
class Answer:
    """One request's answer from one side: a prediction per row, probabilities when known."""

    predictions: np.ndarray
    probabilities: np.ndarray | None = None


@dataclass(slots=True)
class _Pending:
    live: Answer | None = None
    shadows: dict[str, Answer] = field(default_factory=dict)
    labelled: bool = False


@dataclass(slots=True)
class CandidateFigures:
    """What the comparison measured for one candidate so far (cumulative)."""

    paired_requests: int = 0
    paired_rows: int = 0
    agreeing_rows: int = 0
    probability_rows: int = 0
    probability_diff_sum: float = 0.0
    relative_error_sum: float = 0.0
    relative_error_buckets: list[int] = field(
        default_factory=lambda: [0] * len(RELATIVE_ERROR_BUCKETS)
    )
    labelled_rows: int = 0
    correct_rows: int = 0

    def document(self, task: str | None) -> dict[str, Any]:
        """The JSON the operator reads (agreement is None until a row is paired)."""
        rows = self.paired_rows
        doc: dict[str, Any] = {
            "pairedRequests": self.paired_requests,
            "pairedRows": rows,
            "agreeingRows": self.agreeing_rows,
        }
        if task == "regression":
            doc["meanRelativeError"] = self.relative_error_sum / rows if rows else None
            doc["relativeErrorBuckets"] = {
                str(le): n
                for le, n in zip(RELATIVE_ERROR_BUCKETS, self.relative_error_buckets, strict=True)
            }
        else:
            doc["agreement"] = self.agreeing_rows / rows if rows else None
            doc["meanAbsProbabilityDiff"] = (
                self.probability_diff_sum / self.probability_rows if self.probability_rows else None
            )
        doc["labelledRows"] = self.labelled_rows
        if task != "regression":
            doc["accuracy"] = self.correct_rows / self.labelled_rows if self.labelled_rows else None
        return doc


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
        return a.astype(np.float64) == b.astype(np.float64)
    return np.asarray([str(v) for v in a.tolist()]) == np.asarray([str(v) for v in b.tolist()])


class ShadowComparison:
    """Pairs answers by request id within a bounded memory; counts what it had to drop."""

    def __init__(self, capacity: int, task: str | None = None) -> None:
        self.capacity = capacity
        self.task = task
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self.candidates: dict[str, CandidateFigures] = {}
        self.live_answers = 0
        self.shadow_answers = 0
        self.unpaired_evicted = 0  # forgotten before the other side arrived
        self.mismatched_rows = 0  # both sides answered, but not the same number of rows
        self.feedback_matched = 0
        self.feedback_unknown = 0
        self.live_labelled_rows = 0
        self.live_correct_rows = 0

    def _entry(self, request_id: str) -> _Pending:
        entry = self._pending.get(request_id)
        if entry is None:
            entry = self._pending[request_id] = _Pending()
            if len(self._pending) > self.capacity:
                _, old = self._pending.popitem(last=False)
                if old.live is None or not old.shadows:
                    self.unpaired_evicted += 1
        return entry

    def add_live(self, request_id: str, answer: Answer) -> None:
        """A live replica's answer; pairs with every shadow answer already here."""
        self.live_answers += 1
        entry = self._entry(request_id)
        entry.live = answer
        for candidate, shadow in entry.shadows.items():
            self._pair(candidate, answer, shadow)

    def add_shadow(self, candidate: str, request_id: str, answer: Answer) -> None:
        """A candidate's answer to a mirrored request; pairs with the live one when here."""
        self.shadow_answers += 1
        self.candidates.setdefault(candidate, CandidateFigures())
        entry = self._entry(request_id)
        entry.shadows[candidate] = answer
        if entry.live is not None:
            self._pair(candidate, entry.live, answer)

    def _pair(self, candidate: str, live: Answer, shadow: Answer) -> None:
        if len(live.predictions) != len(shadow.predictions):
            self.mismatched_rows += 1
            return
        figures = self.candidates.setdefault(candidate, CandidateFigures())
        rows = len(live.predictions)
        figures.paired_requests += 1
        figures.paired_rows += rows
        if self.task == "regression":
            base = live.predictions.astype(np.float64)
            error = np.abs(shadow.predictions.astype(np.float64) - base) / np.maximum(
                np.abs(base), _RELATIVE_FLOOR
            )
            figures.relative_error_sum += float(error.sum())
            for index, le in enumerate(RELATIVE_ERROR_BUCKETS):
                figures.relative_error_buckets[index] += int((error <= le).sum())
            return
        figures.agreeing_rows += int(_same(live.predictions, shadow.predictions).sum())
        if (
            live.probabilities is not None
            and shadow.probabilities is not None
            and live.probabilities.shape == shadow.probabilities.shape
        ):
            diff = np.abs(live.probabilities - shadow.probabilities).mean(axis=1)
            figures.probability_rows += rows
            figures.probability_diff_sum += float(diff.sum())

    def add_feedback(self, request_id: str, labels: list[Any]) -> bool:
        """Ground truth for a live request: scores the live answer and every candidate's.
        False when the id is unknown here, already labelled, or the row count differs."""
        entry = self._pending.get(request_id)
        if entry is None or entry.live is None or entry.labelled:
            self.feedback_unknown += 1
            return False
        if len(labels) != len(entry.live.predictions):
            self.feedback_unknown += 1
            return False
        entry.labelled = True
        self.feedback_matched += 1
        truth = np.asarray(labels)
        self.live_labelled_rows += len(labels)
        if self.task != "regression":
            self.live_correct_rows += int(_same(entry.live.predictions, truth).sum())
            for candidate, shadow in entry.shadows.items():
                figures = self.candidates[candidate]
                figures.labelled_rows += len(labels)
                figures.correct_rows += int(_same(shadow.predictions, truth).sum())
        return True

    def document(self) -> dict[str, Any]:
        """The JSON read of GET /shadow: counts, live accuracy, figures per candidate."""
        live_rows = self.live_labelled_rows
        return {
            "task": self.task,
            "liveAnswers": self.live_answers,
            "shadowAnswers": self.shadow_answers,
            "pending": len(self._pending),
            "unpairedEvicted": self.unpaired_evicted,
            "mismatchedRows": self.mismatched_rows,
            "feedback": {
                "matched": self.feedback_matched,
                "unmatched": self.feedback_unknown,
                "labelledRows": live_rows,
                "liveAccuracy": (
                    self.live_correct_rows / live_rows
                    if live_rows and self.task != "regression"
                    else None
                ),
            },
            "candidates": {
                name: figures.document(self.task) for name, figures in self.candidates.items()
            },
        }
