"""Prometheus metrics of the operator itself: reconcile counts, durations and errors.

| name | type | labels |
|---|---|---|
| `modelserve_operator_reconcile_total` | counter | `kind`, `result` (ready, progressing, ...) |
| `modelserve_operator_reconcile_duration_seconds` | histogram | `kind` |
| `modelserve_operator_reconcile_errors_total` | counter | `kind`, `error` |
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RECONCILE_TOTAL = Counter(
    "modelserve_operator_reconcile_total", "Reconciles run, by kind and outcome", ["kind", "result"]
)
RECONCILE_DURATION = Histogram(
    "modelserve_operator_reconcile_duration_seconds",
    "Wall time of one reconcile",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RECONCILE_ERRORS = Counter(
    "modelserve_operator_reconcile_errors_total", "Reconciles that raised", ["kind", "error"]
)
