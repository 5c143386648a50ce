"""The Grafana dashboard and the alert rules use only metrics and labels modelserve exports."""

from __future__ import annotations

import json

import pytest
from chart_helpers import CHART, one, render
from modelserve_operator import metrics as operator_metrics
from modelserve_scoring.metrics import ScoringMetrics
from promql_names import TARGET_LABELS, declared_series, sampled_series, uses

DASHBOARD = CHART / "dashboards" / "modelserve-endpoint.json"


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    """Series name -> label names, from the code that defines them."""
    scoring = ScoringMetrics("iris", "1", "blue")
    # Every series appears once a request was answered (the counter's labels are per call).
    scoring.observe_request("score", "rest", 200, 0.01)
    scoring.batch_size.observe(4)
    series = sampled_series(scoring.registry)
    series.update(
        declared_series(
            operator_metrics.RECONCILE_TOTAL,
            operator_metrics.RECONCILE_DURATION,
            operator_metrics.RECONCILE_ERRORS,
            operator_metrics.RESOURCE_CONDITION,
        )
    )
    return series


def dashboard_expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    expressions += [
        v["query"]["query"] for v in board["templating"]["list"] if v["type"] == "query"
    ]
    return expressions


def alert_expressions() -> list[str]:
    spec = one(render(sets=["metrics.prometheusRule.enabled=true"]), "PrometheusRule")["spec"]
    return [rule["expr"] for group in spec["groups"] for rule in group["rules"]]


def unknown_names(expressions: list[str], exported: dict[str, set[str]]) -> list[str]:
    problems = []
    for expression in expressions:
        used = uses(expression)
        if not used.metrics:
            problems.append(f"no metric in {expression!r}")
        for metric in sorted(used.metrics - set(exported)):
            problems.append(f"{metric} is not exported by modelserve (in {expression!r})")
        known_labels = set(TARGET_LABELS)
        for metric in used.metrics & set(exported):
            known_labels |= exported[metric]
            for label in sorted(used.matched.get(metric, set()) - exported[metric] - TARGET_LABELS):
                problems.append(f"{metric} has no label {label} (in {expression!r})")
        for label in sorted(used.grouped - known_labels):
            problems.append(f"grouping by unknown label {label} (in {expression!r})")
    return problems


def test_dashboard_is_grafana_json_for_one_endpoint():
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "modelserve-endpoint"
    variables = [v["name"] for v in board["templating"]["list"]]
    assert variables == ["datasource", "namespace", "endpoint"]
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    titles = [p["title"] for p in panels]
    for wanted in (
        "Requests per second",
        "Error ratio",
        "p50 / p99",
        "Rows per predict",
        "replicas",
    ):
        assert any(wanted.lower() in t.lower() for t in titles), f"no panel about {wanted}"
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            # Every panel shows the endpoint chosen at the top, not the whole cluster.
            assert '"$namespace"' in target["expr"], panel["title"]
            assert '"$endpoint"' in target["expr"], panel["title"]


def test_dashboard_uses_only_exported_metrics_and_labels(exported):
    assert unknown_names(dashboard_expressions(), exported) == []


def test_alerts_use_only_exported_metrics_and_labels(exported):
    assert unknown_names(alert_expressions(), exported) == []


def test_the_check_catches_a_misspelt_metric_or_label(exported):
    # The check itself must be able to fail, or the two tests above prove nothing.
    problems = unknown_names(
        [
            'rate(modelserve_request_total{namespace="ml"}[5m])',
            'sum by (deploymnt) (rate(modelserve_requests_total{stauts="500"}[5m]))',
        ],
        exported,
    )
    assert problems == [
        "modelserve_request_total is not exported by modelserve "
        """(in 'rate(modelserve_request_total{namespace="ml"}[5m])')""",
        "modelserve_requests_total has no label stauts "
        """(in 'sum by (deploymnt) (rate(modelserve_requests_total{stauts="500"}[5m]))')""",
        "grouping by unknown label deploymnt "
        """(in 'sum by (deploymnt) (rate(modelserve_requests_total{stauts="500"}[5m]))')""",
    ]
