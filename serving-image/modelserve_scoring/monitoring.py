"""What one deployment scores, for drift and performance checks: a rolling window of feature
values compared with the trainer's baseline.json, and the feedback behind POST /feedback.
GET /monitoring answers with the contract's MonitoringReport (modelserve_api).

The hot path only copies a request's rows into a ring (a numpy slice assignment under an
uncontended lock); histograms, PSI and samples are computed when /monitoring or /metrics is
read, over the whole window at once.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from modelserve_api.baseline import (
    BASELINE_FILE,
    BaselineError,
    population_stability_index,
    read_baseline,
)
from modelserve_api.monitoring_report import (
    FeatureWindow,
    MonitoringReport,
    RollingPerformance,
    ServedModel,
)

from modelserve_scoring.feedback import (
    FeedbackWindow,
    Performance,
    PredictionMemory,
    Task,
    check_labels,
    outcomes,
    parse_feedback,
)
from modelserve_scoring.metrics import MonitorReading
from modelserve_scoring.runtime.base import ModelRuntime
from modelserve_scoring.settings import ScoringSettings

log = logging.getLogger(__name__)

#: most rows in /monitoring's liveSample (for two-sample KS tests)
LIVE_SAMPLE_ROWS = 500
#: float64 values the window may hold (32 MB): a very wide model gets a shorter window
MAX_WINDOW_VALUES = 4_000_000


@dataclass(frozen=True)
class BaselineFeature:
    """One feature of baseline.json, and the column it is in a request's rows."""

    name: str
    column: int
    edges: list[float]
    counts: list[int]
    sample: list[float]

    @property
    def inner_edges(self) -> np.ndarray:
        """The cut points deciding a value's bin (values outside go to the outer bins)."""
        return np.asarray(self.edges[1:-1], dtype=np.float64)


def load_baseline(
    path: Path, n_features: int | None, feature_names: list[str] | None
) -> list[BaselineFeature]:
    """Read baseline.json and map its features onto the model's input columns."""
    baseline = read_baseline(path)
    if not baseline.features:
        raise BaselineError(f"{path} lists no features")
    names = [f.name for f in baseline.features]
    if feature_names is not None:
        unknown = [n for n in names if n not in feature_names]
        if unknown:
            raise BaselineError(
                f"{path} describes feature(s) {unknown} the model does not take "
                f"(it takes {feature_names})"
            )
        columns = [feature_names.index(n) for n in names]
    else:
        if n_features is not None and len(names) != n_features:
            raise BaselineError(
                f"{path} describes {len(names)} features but the model takes {n_features}"
            )
        columns = list(range(len(names)))
    return [
        BaselineFeature(
            f.name, column, f.histogram.edges, f.histogram.counts, baseline.sample.column(f.name)
        )
        for f, column in zip(baseline.features, columns, strict=True)
    ]


class LiveWindow:
    """The last `capacity` rows (only the baseline's columns) in a ring buffer."""

    def __init__(self, capacity: int, columns: list[int]) -> None:
        self.capacity = capacity
        self._columns = None if columns == list(range(len(columns))) else np.asarray(columns)
        self._width = len(columns)
        self._ring = np.empty((capacity, self._width), dtype=np.float64)
        self._head = 0
        self.rows = 0

    def add(self, rows: np.ndarray) -> None:
        """Append rows; the oldest drop out once the ring is full."""
        n = len(rows)
        if not self._width:  # no baseline: the window only counts rows
            self.rows = min(self.rows + n, self.capacity)
            return
        if self._columns is not None:
            rows = rows[:, self._columns]
        elif rows.shape[1] != self._width:
            rows = rows[:, : self._width]
        if rows.dtype != np.float64:
            try:
                rows = rows.astype(np.float64)
            except (TypeError, ValueError):  # text in a baseline column: count it missing
                rows = np.full((n, self._width), np.nan)
        capacity, head = self.capacity, self._head
        if n >= capacity:
            self._ring[:] = rows[n - capacity :]
            self._head, self.rows = 0, capacity
            return
        end = head + n
        if end <= capacity:
            self._ring[head:end] = rows
        else:
            split = capacity - head
            self._ring[head:] = rows[:split]
            self._ring[: end - capacity] = rows[split:]
        self._head = end % capacity
        self.rows = min(self.rows + n, capacity)

    def snapshot(self) -> np.ndarray:
        """A copy of the rows in the window (in ring order; statistics do not need time order)."""
        return self._ring[: self.rows].copy()


@dataclass(frozen=True)
class FeatureWindowStats:
    """One feature's live statistics over the window."""

    counts: np.ndarray
    missing: int
    underflow: int
    overflow: int


def feature_window_stats(feature: BaselineFeature, values: np.ndarray) -> FeatureWindowStats:
    """Live counts per baseline bin (outside values in the outer bins), plus what fell outside."""
    present = values[~np.isnan(values)]
    missing = len(values) - len(present)
    if len(feature.edges) < 2:
        return FeatureWindowStats(np.zeros(0, dtype=np.int64), missing, 0, 0)
    bins = np.searchsorted(feature.inner_edges, present, side="right")
    counts = np.bincount(bins, minlength=len(feature.edges) - 1)
    underflow = int(np.count_nonzero(present < feature.edges[0]))
    overflow = int(np.count_nonzero(present > feature.edges[-1]))
    return FeatureWindowStats(counts, missing, underflow, overflow)


class Monitoring:
    """The monitoring state of one serving instance; `record` is on every prediction's path."""

    def __init__(self, settings: ScoringSettings) -> None:
        self.settings = settings
        self.task: Task | None = None
        self.features: list[BaselineFeature] = []
        #: why a baseline.json that exists is not used, for /monitoring and the log
        self.baseline_problem: str | None = None
        self._rate = settings.monitor_sample_rate
        self._rng = np.random.default_rng()
        # the metrics thread reads what the event loop writes
        self._lock = threading.Lock()
        self.window = LiveWindow(settings.monitor_window_rows, [])
        self.memory = PredictionMemory(settings.feedback_memory)
        self.feedback = FeedbackWindow(settings.feedback_window)

    # --- set up once the model is loaded (in the loading thread) ---------------------------

    def _baseline_path(self, artifact: Path | None) -> Path | None:
        if self.settings.baseline_path is not None:
            return self.settings.baseline_path
        return artifact.parent / BASELINE_FILE if artifact is not None else None

    def attach(self, runtime: ModelRuntime, artifact: Path | None) -> None:
        """Learn the task and load the baseline; a missing baseline means row counts only."""
        self.task = "classification" if runtime.classes is not None else "regression"
        path = self._baseline_path(artifact)
        features: list[BaselineFeature] = []
        if path is not None and path.exists():
            try:
                features = load_baseline(path, runtime.n_features, runtime.feature_names)
            except BaselineError as exc:
                self.baseline_problem = str(exc)
                log.warning("monitoring without drift statistics: %s", exc)
        elif self.settings.baseline_path is not None:
            self.baseline_problem = f"{path} does not exist"
            log.warning("monitoring without drift statistics: %s does not exist", path)
        capacity = self.settings.monitor_window_rows
        if features and capacity * len(features) > MAX_WINDOW_VALUES:
            capacity = max(MAX_WINDOW_VALUES // len(features), 1)
            log.warning(
                "monitoring window shortened to %d rows: %d features would not fit in memory",
                capacity,
                len(features),
            )
        with self._lock:
            self.features = features
            self.window = LiveWindow(capacity, [f.column for f in features])

    # --- the hot path ------------------------------------------------------------------------

    def record(
        self,
        request_id: str,
        rows: np.ndarray,
        predictions: np.ndarray | None,
        probabilities: np.ndarray | None,
        classes: list | None,
    ) -> None:
        """Remember a request's predictions for feedback and sample its rows into the window."""
        if predictions is None and probabilities is not None and classes is not None:
            # only probabilities were asked for: feedback is about the class they pick
            predictions = np.asarray(classes)[probabilities.argmax(axis=1)]
        if predictions is not None:
            self.memory.remember(request_id, predictions)
        rate = self._rate
        if rate < 1.0:
            if rate <= 0.0:
                return
            if len(rows) == 1:  # the common case: a plain draw costs a tenth of numpy's
                if random.random() >= rate:
                    return
            else:
                keep = self._rng.random(len(rows)) < rate
                if not keep.any():
                    return
                rows = rows[keep]
        with self._lock:
            self.window.add(rows)

    # --- feedback ----------------------------------------------------------------------------

    def give_feedback(self, body: bytes) -> int:
        """Match POST /feedback to its prediction; returns the rows matched."""
        request = parse_feedback(body)
        entry = self.memory.lookup(request.request_id)
        task = self.task
        assert task is not None  # predictions are only remembered once the model is loaded
        check_labels(request, task, len(entry.predictions))
        values = outcomes(task, entry.predictions, request.labels)
        entry.answered = True
        with self._lock:
            self.feedback.add(values)
        return len(values)

    # --- reading -------------------------------------------------------------------------------

    def _read(self) -> tuple[np.ndarray, list[BaselineFeature], Performance, int]:
        with self._lock:
            return (
                self.window.snapshot(),
                self.features,
                self.feedback.performance(self.task),
                self.feedback.total,
            )

    def reading(self) -> MonitorReading:
        """What the Prometheus metrics show (called by the metrics thread at each scrape)."""
        window, features, performance, total = self._read()
        psi: dict[str, float] = {}
        for i, feature in enumerate(features):
            stats = feature_window_stats(feature, window[:, i])
            value = population_stability_index(feature.counts, stats.counts.tolist())
            if value is not None:
                psi[feature.name] = value
        return MonitorReading(
            window_rows=len(window),
            feedback_total=total,
            accuracy=performance.accuracy,
            mae=performance.mae,
            rmse=performance.rmse,
            psi=psi,
        )

    def document(self) -> dict[str, Any]:
        """The GET /monitoring body (a MonitoringReport): what the operator judges drift with."""
        window, features, performance, _ = self._read()
        settings = self.settings
        if len(window) > LIVE_SAMPLE_ROWS:
            # its own generator: this runs in a worker thread while requests use self._rng
            rng = np.random.default_rng()
            chosen = np.sort(rng.choice(len(window), LIVE_SAMPLE_ROWS, replace=False))
            sample = window[chosen]
        else:
            sample = window
        described = []
        for i, feature in enumerate(features):
            stats = feature_window_stats(feature, window[:, i])
            live_counts = stats.counts.tolist()
            live_sample = sample[:, i]
            described.append(
                FeatureWindow(
                    name=feature.name,
                    edges=feature.edges,
                    baseline_counts=feature.counts,
                    live_counts=live_counts,
                    baseline_sample=feature.sample,
                    live_sample=live_sample[~np.isnan(live_sample)].tolist(),
                    missing=stats.missing,
                    underflow=stats.underflow,
                    overflow=stats.overflow,
                    psi=population_stability_index(feature.counts, live_counts),
                )
            )
        report = MonitoringReport(
            deployment=settings.deployment_name,
            model=ServedModel(name=settings.model_name, version=settings.model_version),
            rows=len(window),
            baseline=bool(features),
            features=described,
            performance=RollingPerformance(
                task=self.task,
                feedback_rows=performance.rows,
                accuracy=performance.accuracy,
                mae=performance.mae,
                rmse=performance.rmse,
            ),
            sample_rate=self._rate,
            window_capacity=self.window.capacity,
            baseline_problem=self.baseline_problem,
        )
        return report.model_dump(by_alias=True, mode="json")
