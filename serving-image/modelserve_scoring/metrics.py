"""Prometheus metrics of the scoring server, served on their own port (MODELSERVE_METRICS_PORT).

Every metric carries the labels ``model``, ``version`` and ``deployment``.

==========================================  =========  ===========================================
name                                        type       meaning (extra labels)
==========================================  =========  ===========================================
``modelserve_requests_total``               counter    requests answered (``route``, ``status``,
                                                       ``protocol``)
``modelserve_request_duration_seconds``     histogram  time from request start to response
                                                       (``route``, ``protocol``)
``modelserve_batch_size_rows``              histogram  rows per predict call (micro-batching)
``modelserve_inflight_requests``            gauge      scoring requests in progress
``modelserve_model_load_seconds``           gauge      time to verify, load and warm up the model
``modelserve_model_ready``                  gauge      1 once the model is loaded and warmed up
``modelserve_model_runtime``                gauge      1 for the runtime serving the model
                                                       (``runtime``, ``requested``, ``fallback``)
``modelserve_monitor_window_rows``          gauge      rows in the monitoring window
``modelserve_feedback_total``               counter    labelled rows received on POST /feedback
``modelserve_rolling_accuracy``             gauge      accuracy over the feedback window
                                                       (classifiers; absent until feedback)
``modelserve_rolling_error``                gauge      MAE / RMSE over the feedback window
                                                       (regressors; ``kind``: ``mae``, ``rmse``)
``modelserve_feature_psi``                  gauge      PSI of the window against the training
                                                       baseline (``feature``; with a baseline)
``modelserve_script_workers``               gauge      scoring-script worker threads (``state``:
                                                       ``total``, ``busy``, ``stuck``)
==========================================  =========  ===========================================

``route`` is one of ``v2_infer``, ``score``, ``v1_predict``, ``other``; ``protocol`` is ``rest`` or
``grpc`` (v2 inference over gRPC counts under ``route="v2_infer"``). ``status`` is the HTTP status
of the answer; a gRPC answer counts under the HTTP status REST gives the same refusal (its gRPC
code follows from it, docs/scoring-server.md#grpc), so one ``status=~"5.."`` selects the server
faults of both. ``runtime`` is ``onnx``
or ``sklearn``; ``fallback`` says why ONNX Runtime is not used although it was asked for
(``unsupported``, ``session_failed``, ``answers_differ``, ``error``, ``unavailable``), or
``pending`` while scikit-learn serves and ONNX Runtime is checked in the background; else it is
empty.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from modelserve_api.monitoring_report import CallCounters
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

ROUTES = ("v2_infer", "score", "v1_predict", "other")
PROTOCOLS = ("rest", "grpc")
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class MonitorReading:
    """What the monitoring metrics show at one scrape (see modelserve_scoring.monitoring)."""

    window_rows: int = 0
    feedback_total: int = 0
    accuracy: float | None = None
    mae: float | None = None
    rmse: float | None = None
    psi: dict[str, float] = field(default_factory=dict)


class _MonitorCollector:
    """Reads the monitoring state at scrape time: PSI is computed per scrape, not per request."""

    def __init__(self, ids: tuple[str, ...], read: Callable[[], MonitorReading]) -> None:
        self._ids = list(ids)
        self._read = read

    def describe(self) -> list[Metric]:
        return []  # no collect() at registration: the model may not be loaded yet

    def collect(self) -> Iterator[Metric]:
        reading = self._read()
        base = ["model", "version", "deployment"]
        ids = self._ids
        rows = GaugeMetricFamily(
            "modelserve_monitor_window_rows", "Rows in the rolling monitoring window.", labels=base
        )
        rows.add_metric(ids, reading.window_rows)
        yield rows
        total = CounterMetricFamily(
            "modelserve_feedback", "Labelled rows received on POST /feedback.", labels=base
        )
        total.add_metric(ids, reading.feedback_total)
        yield total
        if reading.accuracy is not None:
            accuracy = GaugeMetricFamily(
                "modelserve_rolling_accuracy",
                "Accuracy over the feedback window (classifiers).",
                labels=base,
            )
            accuracy.add_metric(ids, reading.accuracy)
            yield accuracy
        if reading.mae is not None and reading.rmse is not None:
            error = GaugeMetricFamily(
                "modelserve_rolling_error",
                "Error over the feedback window (regressors), by kind: mae or rmse.",
                labels=[*base, "kind"],
            )
            error.add_metric([*ids, "mae"], reading.mae)
            error.add_metric([*ids, "rmse"], reading.rmse)
            yield error
        if reading.psi:
            psi = GaugeMetricFamily(
                "modelserve_feature_psi",
                "Population stability index of the monitoring window against the training "
                "baseline, per feature.",
                labels=[*base, "feature"],
            )
            for feature, value in reading.psi.items():
                psi.add_metric([*ids, feature], value)
            yield psi


class ScriptWorkers(Protocol):
    """What the script-worker gauge reads (script_pool.ScriptPool)."""

    workers: int
    busy: int
    stuck: int


class _ScriptPoolCollector:
    def __init__(self, ids: tuple[str, ...], pool: ScriptWorkers) -> None:
        self._ids = list(ids)
        self._pool = pool

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        pool = self._pool
        gauge = GaugeMetricFamily(
            "modelserve_script_workers",
            "Scoring-script worker threads: total, busy, and stuck in run() calls that timed out.",
            labels=["model", "version", "deployment", "state"],
        )
        for state, value in (("total", pool.workers), ("busy", pool.busy), ("stuck", pool.stuck)):
            gauge.add_metric([*self._ids, state], value)
        yield gauge


class ScoringMetrics:
    """The server's metrics, with the model/version/deployment labels bound once."""

    def __init__(self, model: str, version: str, deployment: str) -> None:
        self.registry = CollectorRegistry()
        base = ("model", "version", "deployment")
        ids = (model, version, deployment)
        self._ids = ids
        self._requests = Counter(
            "modelserve_requests",
            "Scoring requests answered, by route, HTTP status and protocol (rest, grpc).",
            (*base, "route", "status", "protocol"),
            registry=self.registry,
        )
        latency = Histogram(
            "modelserve_request_duration_seconds",
            "Time from request start to response, by route and protocol (rest, grpc).",
            (*base, "route", "protocol"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._latency = {
            (route, protocol): latency.labels(*ids, route, protocol)
            for route in ROUTES
            for protocol in PROTOCOLS
        }
        self.batch_size = Histogram(
            "modelserve_batch_size_rows",
            "Rows per predict call after micro-batching.",
            base,
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        ).labels(*ids)
        self.inflight = Gauge(
            "modelserve_inflight_requests",
            "Scoring requests in progress.",
            base,
            registry=self.registry,
        ).labels(*ids)
        self.load_seconds = Gauge(
            "modelserve_model_load_seconds",
            "Seconds spent verifying, loading and warming up the model.",
            base,
            registry=self.registry,
        ).labels(*ids)
        self.ready = Gauge(
            "modelserve_model_ready",
            "1 once the model is loaded and warmed up, 0 before and while draining.",
            base,
            registry=self.registry,
        ).labels(*ids)
        self._runtime = Gauge(
            "modelserve_model_runtime",
            "1 for the runtime serving the model; fallback names why ONNX Runtime is not used "
            "although it was asked for (empty when it is, or was not asked for; pending while it "
            "is checked in the background).",
            (*base, "runtime", "requested", "fallback"),
            registry=self.registry,
        )
        self._counters: dict[tuple[str, str, int], Counter] = {}
        # Plain totals as well, for GET /monitoring/requests: the operator's promotion
        # reads them to tell whether a new version has served cleanly. Only the data plane
        # (dataplane.py) counts requests.
        self.answered = 0
        self.server_errors = 0
        # Calls per latency bucket (the Prometheus histogram's bounds, not cumulative, then
        # one unbounded bucket): a rollout's p99 gate compares two readings of it.
        self.latency_counts = [0] * (len(_LATENCY_BUCKETS) + 1)

    def set_runtime(self, runtime: str, requested: str, fallback: str) -> None:
        """Record which runtime serves the model, what was asked for and why not, if so (one
        series: the runtime may change once, after a background check)."""
        self._runtime.clear()
        self._runtime.labels(*self._ids, runtime, requested, fallback).set(1)

    def watch_monitoring(self, read: Callable[[], MonitorReading]) -> None:
        """Export the monitoring window and feedback metrics, read from `read` at each scrape."""
        self.registry.register(_MonitorCollector(self._ids, read))

    def watch_script_pool(self, pool: ScriptWorkers) -> None:
        """Export the scoring-script workers, read at each scrape."""
        self.registry.register(_ScriptPoolCollector(self._ids, pool))

    def count_inflight(self, read: Callable[[], int]) -> None:
        """The in-flight gauge reads `read()` at each scrape: no lock taken per request (two
        per request as inc/dec, about 1 µs)."""
        self.inflight.set_function(read)

    def observe_request(
        self, route: str, protocol: str, status: int, seconds: float, server_fault: bool = False
    ) -> None:
        """Count one answered request and its latency; `server_fault`: the server or the model
        failed it (never a client's mistake), which is what serverErrors counts."""
        key = (route, protocol, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self._requests.labels(
                *self._ids, route, str(status), protocol
            )
        counter.inc()
        self._latency[route, protocol].observe(seconds)
        self.answered += 1
        self.latency_counts[bisect.bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        if server_fault:
            self.server_errors += 1

    def request_counts(self) -> dict[str, int]:
        """GET /monitoring/requests: prediction calls answered since the server started, how
        many the server or the model failed (5xx; never a client's bad input), and their
        answer times as a histogram."""
        counters = CallCounters(
            answered=self.answered,
            server_errors=self.server_errors,
            latency_buckets_ms=[bound * 1000 for bound in _LATENCY_BUCKETS],
            latency_counts=list(self.latency_counts),
        )
        return counters.model_dump(by_alias=True)

    def serve(self, host: str, port: int) -> None:
        """Expose /metrics on its own port (a daemon thread)."""
        disable_created_metrics()  # *_created series only add noise here
        start_http_server(port, addr=host, registry=self.registry)
