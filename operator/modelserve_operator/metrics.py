"""Prometheus metrics of the operator itself: reconcile counts, durations and errors.

| name | type | labels |
|---|---|---|
| `modelserve_operator_reconcile_total` | counter | `kind`, `result` (ready, progressing, ...) |
| `modelserve_operator_reconcile_duration_seconds` | histogram | `kind` |
| `modelserve_operator_reconcile_errors_total` | counter | `kind`, `error` |
| `modelserve_resource_condition` | gauge | `kind`, `namespace`, `name`, `condition`, `reason` |
| `modelserve_operator_leader` | gauge | none; 1 while this replica leads (reconciles) |

`modelserve_resource_condition` is 1 while the condition (Ready, Progressing or Degraded)
of a Model, OnlineEndpoint or BatchDeployment is True and 0 otherwise; `reason` is the
condition's current reason (e.g. `RunFailed`). Alerts read it: status lives in the API
server, and Prometheus cannot read that.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

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
RESOURCE_CONDITION = Gauge(
    "modelserve_resource_condition",
    "1 while the resource's condition is True, else 0; reason is the condition's reason",
    ["kind", "namespace", "name", "condition", "reason"],
)
LEADER = Gauge(
    "modelserve_operator_leader", "1 while this replica holds the lease and reconciles, else 0"
)

# The human-facing conditions; Reconciling/Stalled repeat them for kstatus.
EXPORTED_CONDITIONS = ("Ready", "Progressing", "Degraded")

# The reason exported per (kind, namespace, name, condition), so a series whose reason
# changed or whose object was deleted is removed instead of lingering (and alerting).
_exported: dict[tuple[str, str, str, str], str] = {}
_exported_lock = threading.Lock()


def record_conditions(
    kind: str, namespace: str, name: str, conditions: Iterable[dict[str, Any]]
) -> None:
    """Export one object's Ready/Progressing/Degraded conditions as gauge series."""
    by_type = {c.get("type"): c for c in conditions}
    with _exported_lock:
        for condition in EXPORTED_CONDITIONS:
            current = by_type.get(condition)
            key = (kind, namespace, name, condition)
            previous = _exported.pop(key, None)
            if current is None:
                if previous is not None:
                    RESOURCE_CONDITION.remove(*key, previous)
                continue
            reason = current.get("reason") or ""
            if previous is not None and previous != reason:
                RESOURCE_CONDITION.remove(*key, previous)
            RESOURCE_CONDITION.labels(*key, reason).set(1 if current.get("status") == "True" else 0)
            _exported[key] = reason


def forget_resource(kind: str, namespace: str, name: str) -> None:
    """Drop the series of an object that was deleted."""
    with _exported_lock:
        for condition in EXPORTED_CONDITIONS:
            reason = _exported.pop((kind, namespace, name, condition), None)
            if reason is not None:
                RESOURCE_CONDITION.remove(kind, namespace, name, condition, reason)


# Ports this process already serves metrics on: a standby that becomes the leader, or an
# operator restarted in-process (tests), keeps the one server it has.
_metrics_ports: set[int] = set()


def serve_metrics(port: int, address: str) -> bool:
    """Serve /metrics on `port` unless this process already does; True when started now."""
    if not port or port in _metrics_ports:
        return False
    start_http_server(port, addr=address)
    _metrics_ports.add(port)
    return True
