"""Prometheus metrics of the scoring server, served on their own port (MODELSERVE_METRICS_PORT).

Every metric carries the labels ``model``, ``version`` and ``deployment``.

==========================================  =========  ===========================================
name                                        type       meaning (extra labels)
==========================================  =========  ===========================================
``modelserve_requests_total``               counter    requests answered (``route``, ``status``)
``modelserve_request_duration_seconds``     histogram  time from request start to response
                                                       (``route``)
``modelserve_batch_size_rows``              histogram  rows per predict call (micro-batching)
``modelserve_inflight_requests``            gauge      scoring requests in progress
``modelserve_model_load_seconds``           gauge      time to verify, load and warm up the model
``modelserve_model_ready``                  gauge      1 once the model is loaded and warmed up
==========================================  =========  ===========================================

``route`` is one of ``v2_infer``, ``score``, ``v1_predict``, ``other``.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

ROUTES = ("v2_infer", "score", "v1_predict", "other")
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ScoringMetrics:
    """The server's metrics, with the model/version/deployment labels bound once."""

    def __init__(self, model: str, version: str, deployment: str) -> None:
        self.registry = CollectorRegistry()
        base = ("model", "version", "deployment")
        ids = (model, version, deployment)
        self._ids = ids
        self._requests = Counter(
            "modelserve_requests",
            "Scoring requests answered, by route and HTTP status.",
            (*base, "route", "status"),
            registry=self.registry,
        )
        latency = Histogram(
            "modelserve_request_duration_seconds",
            "Time from request start to response, by route.",
            (*base, "route"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._latency = {route: latency.labels(*ids, route) for route in ROUTES}
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
        self._counters: dict[tuple[str, int], Counter] = {}

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (route, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self._requests.labels(*self._ids, route, str(status))
        counter.inc()
        self._latency[route].observe(seconds)

    def serve(self, host: str, port: int) -> None:
        """Expose /metrics on its own port (a daemon thread)."""
        disable_created_metrics()  # *_created series only add noise here
        start_http_server(port, addr=host, registry=self.registry)
