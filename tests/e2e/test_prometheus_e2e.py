"""A real Prometheus scrapes an endpoint's scoring pods and the operator; PromQL sees the series.

The scrape jobs are the chart's rendered ServiceMonitors (prometheus_stack.py), their targets
found through the API (EndpointSlices and pods), so the labels checked here are the ones the
chart's relabelling gives, which the alerts and the dashboard read. The chart's
PrometheusRule is this Prometheus's rule file, evaluated live.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from e2e_target import NODE_NAME
from endpoint_traffic import EndpointClient
from iris_objects import (
    DEPLOYMENT,
    ENDPOINT,
    MODEL_NAME,
    MODEL_VERSION,
    iris_endpoint,
    iris_model,
)
from namespace_site import NamespaceSite
from prometheus_stack import (
    SCRAPE_INTERVAL,
    Prometheus,
    label_values,
    meta_label,
    scrape_job,
    wait_for,
    write_targets,
)
from sklearn.datasets import load_iris

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "modelserve"
# `helm template` cannot ask a cluster; the chart's kubeVersion must accept this one.
KUBE_VERSION = "1.36.0"
RELEASE = "ms"
REQUESTS_SENT = 37
# Scoring pods verify, load and warm a model up; on a busy two-core machine that is slow.
POD_START_S = 300.0


# --- the chart's monitoring objects ------------------------------------------------------


@dataclass(frozen=True)
class ChartMonitoring:
    """What the chart renders for Prometheus: two ServiceMonitors, the metrics Service, rules."""

    operator_monitor: dict[str, Any]
    scoring_monitor: dict[str, Any]
    operator_service: dict[str, Any]
    rule_groups: dict[str, Any]

    def alert_rules(self) -> list[dict[str, Any]]:
        return [rule for group in self.rule_groups["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def chart_monitoring(cluster) -> ChartMonitoring:
    helm = cluster.bin_dir / "helm"
    if not helm.exists():
        pytest.fail(f"no helm at {helm}: run hack/setup.sh (it builds helm)")
    result = subprocess.run(
        [
            *(str(helm), "template", RELEASE, str(CHART), "--namespace", "modelserve-system"),
            *("--kube-version", KUBE_VERSION),
            *("--set", "metrics.serviceMonitor.enabled=true"),
            *("--set", "metrics.prometheusRule.enabled=true"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    # Named <release>-modelserve-operator and -scoring.
    monitors = {
        o["metadata"]["name"].rsplit("-", 1)[-1]: o
        for o in objects
        if o["kind"] == "ServiceMonitor"
    }
    assert set(monitors) == {"operator", "scoring"}, f"ServiceMonitors rendered: {list(monitors)}"
    (service,) = [o for o in objects if o["kind"] == "Service"]
    (rule,) = [o for o in objects if o["kind"] == "PrometheusRule"]
    return ChartMonitoring(monitors["operator"], monitors["scoring"], service, rule["spec"])


# --- the endpoint under observation ----------------------------------------------------------


class Site(NamespaceSite):
    """The namespace the in-process operator watches, with the iris model and endpoint."""

    def get(self, kind: str, name: str = "", selector: str = "") -> dict[str, Any] | None:
        args = ["get", kind, *([name] if name else []), *(["-l", selector] if selector else [])]
        result = self.kubectl(*args, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None


@dataclass(frozen=True)
class Observed:
    """A Ready endpoint, the operator's metrics port, and the Prometheus watching both."""

    site: Site
    prometheus: Prometheus
    operator_metrics_port: int
    chart: ChartMonitoring


@pytest.fixture(scope="module")
def observed(
    cluster, node, operator_factory, chart_monitoring: ChartMonitoring, tmp_path_factory
) -> Iterator[Observed]:
    namespace = f"prometheus-e2e-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    monkeypatch = pytest.MonkeyPatch()
    operator = operator_factory(
        namespace, monkeypatch, {"MODELSERVE_NODE_SELECTOR": f"kubernetes.io/hostname={NODE_NAME}"}
    )
    site = Site(cluster, namespace)
    workdir = tmp_path_factory.mktemp("prometheus")
    operator_targets, scoring_targets = workdir / "operator.json", workdir / "scoring.json"
    for path in (operator_targets, scoring_targets):
        write_targets(path, [])
    (workdir / "rules.yaml").write_text(yaml.safe_dump(chart_monitoring.rule_groups))
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(workdir / "rules.yaml")],
        "scrape_configs": [
            scrape_job(chart_monitoring.operator_monitor, operator_targets),
            scrape_job(chart_monitoring.scoring_monitor, scoring_targets),
        ],
    }
    try:
        wait_for(lambda: site.get("serviceaccount", "default"), "default ServiceAccount", 60)
        operator.start()
        metrics_port = int(os.environ["MODELSERVE_OPERATOR_METRICS_PORT"])
        # The operator runs in this process: its target is loopback, labelled as the
        # chart's metrics Service in the release namespace would be (not the watched one,
        # so a `namespace` clash between target and series shows).
        service = chart_monitoring.operator_service["metadata"]
        operator_meta = {
            "__meta_kubernetes_namespace": service["namespace"],
            "__meta_kubernetes_service_name": service["name"],
        }
        write_targets(
            operator_targets, [{"targets": [f"127.0.0.1:{metrics_port}"], "labels": operator_meta}]
        )
        site.apply(*iris_model())
        wait_for(lambda: site.ready("model", f"{MODEL_NAME}-{MODEL_VERSION}"), "Model Ready", 120)
        site.apply(iris_endpoint("none"))
        wait_for(lambda: site.ready("onlineendpoint", ENDPOINT), "endpoint Ready", POD_START_S)
        write_targets(scoring_targets, discover_scoring_targets(site, chart_monitoring))
        with Prometheus(workdir, config) as prometheus:
            yield Observed(site, prometheus, metrics_port, chart_monitoring)
    finally:
        operator.delete_objects_and_stop()
        monkeypatch.undo()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")


def discover_scoring_targets(site: Site, chart: ChartMonitoring) -> list[dict[str, Any]]:
    """What Kubernetes discovery finds for the scoring ServiceMonitor: one group per pod.

    Services matching its selector, their EndpointSlices' ready addresses on the named
    port, and the meta labels of the Service and the pod behind each address.
    """
    spec = chart.scoring_monitor["spec"]
    selector = ",".join(f"{k}={v}" for k, v in spec["selector"]["matchLabels"].items())
    port_name = spec["endpoints"][0]["port"]
    services = (site.get("services", selector=selector) or {}).get("items", [])
    assert services, f"no Service in {site.namespace} matches {selector}"
    groups = []
    for service in services:
        name = service["metadata"]["name"]
        slices = site.get("endpointslices", selector=f"kubernetes.io/service-name={name}")
        service_labels = {
            f"__meta_kubernetes_service_label_{meta_label(k)}": v
            for k, v in service["metadata"].get("labels", {}).items()
        }
        for endpoint_slice in slices["items"]:
            port = next(p["port"] for p in endpoint_slice["ports"] if p["name"] == port_name)
            for address in endpoint_slice.get("endpoints") or []:
                if not address["conditions"].get("ready"):
                    continue
                pod = site.get("pod", address["targetRef"]["name"])
                container = next(
                    c["name"]
                    for c in pod["spec"]["containers"]
                    if any(p["containerPort"] == port for p in c.get("ports", []))
                )
                labels = {
                    "__meta_kubernetes_namespace": site.namespace,
                    "__meta_kubernetes_service_name": name,
                    "__meta_kubernetes_pod_name": pod["metadata"]["name"],
                    "__meta_kubernetes_pod_container_name": container,
                    **service_labels,
                }
                groups.append({"targets": [f"{address['addresses'][0]}:{port}"], "labels": labels})
    assert groups, f"no ready scoring address behind {[s['metadata']['name'] for s in services]}"
    return groups


def scoring_pod(site: Site) -> str:
    selector = f"app.kubernetes.io/component=scoring,modelserve.io/endpoint={ENDPOINT}"
    (pod,) = site.get("pods", selector=selector)["items"]
    return pod["metadata"]["name"]


def score_through_router(site: Site, count: int) -> list[int]:
    """POST /score `count` times through the endpoint's router; the HTTP statuses."""
    service = site.get("service", ENDPOINT)
    client = EndpointClient(service["spec"]["clusterIP"], None, MODEL_NAME)
    rows = load_iris(return_X_y=True)[0][:3].tolist()
    with requests.Session() as session:
        return [client.score(rows, session=session).status_code for _ in range(count)]


# --- the assertions ---------------------------------------------------------------------------


def test_scoring_requests_arrive_counted_exactly_with_their_labels(observed: Observed):
    prom, site = observed.prometheus, observed.site
    scoring = f'namespace="{site.namespace}", modelserve_endpoint="{ENDPOINT}"'
    wait_for(
        lambda: prom.value(f"max(modelserve_model_ready{{{scoring}}})") == 1,
        "the scoring pod scraped with its model ready",
        timeout=60,
    )
    requests_expr = f'sum(modelserve_requests_total{{{scoring}, route="score"}})'
    # A fresh endpoint has answered no /score yet: the series appears with the first call.
    before = prom.value(requests_expr) or 0.0

    assert score_through_router(site, REQUESTS_SENT) == [200] * REQUESTS_SENT

    expected = before + REQUESTS_SENT
    wait_for(
        lambda: (prom.value(requests_expr) or 0.0) >= expected,
        f"{requests_expr} to reach {expected:.0f}",
        timeout=60,
    )
    time.sleep(3)  # three more scrapes: a count that kept growing would be wrong
    series = prom.one(f'modelserve_requests_total{{{scoring}, route="score"}}')
    assert series["value"] == expected
    assert series["metric"] == {
        "__name__": "modelserve_requests_total",
        "model": MODEL_NAME,
        "version": MODEL_VERSION,
        "deployment": DEPLOYMENT,
        "route": "score",
        "protocol": "rest",
        "status": "200",
        # From the chart's ServiceMonitor: discovery, standard relabelling, its relabeling.
        "namespace": site.namespace,
        "modelserve_endpoint": ENDPOINT,
        "pod": scoring_pod(site),
        "service": f"{ENDPOINT}-{DEPLOYMENT}",
        "job": f"{ENDPOINT}-{DEPLOYMENT}",
        "container": "scoring",
        "endpoint": "metrics",
        "instance": series["metric"]["instance"],
    }
    assert series["metric"]["instance"].endswith(":8082")
    durations = f'modelserve_request_duration_seconds_count{{{scoring}, route="score"}}'
    assert prom.value(f"sum({durations})") == expected


def test_latency_histogram_gives_a_finite_p99_per_deployment(observed: Observed):
    prom, site = observed.prometheus, observed.site
    scoring = f'namespace="{site.namespace}", modelserve_endpoint="{ENDPOINT}", route="score"'
    assert score_through_router(site, 10) == [200] * 10
    # The dashboard's and the alert's shape: per endpoint and deployment, over the buckets.
    expr = (
        "histogram_quantile(0.99, sum by (namespace, modelserve_endpoint, deployment, le) "
        f"(rate(modelserve_request_duration_seconds_bucket{{{scoring}}}[1m])))"
    )

    def quantile() -> list[dict[str, Any]]:
        result = prom.query(expr)
        return result if result and not math.isnan(result[0]["value"]) else []

    (p99,) = wait_for(quantile, f"a p99 from {expr}", timeout=60)

    assert p99["metric"] == {
        "namespace": site.namespace,
        "modelserve_endpoint": ENDPOINT,
        "deployment": DEPLOYMENT,
    }
    # Finite and inside the histogram's buckets (the last finite one is 10 s).
    assert 0 < p99["value"] <= 10, p99
    buckets = prom.query(f"modelserve_request_duration_seconds_bucket{{{scoring}}}")
    assert {s["metric"]["le"] for s in buckets} >= {"0.005", "0.1", "1.0", "10.0", "+Inf"}


def test_operator_reconciles_and_endpoint_ready_condition_are_scraped(observed: Observed):
    prom, site = observed.prometheus, observed.site
    operator_job = observed.chart.operator_service["metadata"]["name"]
    wait_for(
        lambda: prom.value(f'up{{job="{operator_job}"}}') == 1,
        "the operator's target up",
        timeout=60,
    )

    reconciles = prom.query('modelserve_operator_reconcile_total{kind="OnlineEndpoint"}')
    assert reconciles and sum(s["value"] for s in reconciles) > 0, reconciles
    assert {s["metric"]["job"] for s in reconciles} == {operator_job}
    durations = prom.value(
        'sum(modelserve_operator_reconcile_duration_seconds_count{kind="OnlineEndpoint"})'
    )
    assert durations and durations > 0

    endpoint = f'kind="OnlineEndpoint", namespace="{site.namespace}", name="{ENDPOINT}"'
    ready = prom.one(f'modelserve_resource_condition{{{endpoint}, condition="Ready"}}')
    assert ready["value"] == 1
    # honorLabels (as in the chart): `namespace` is the endpoint's, not the target's.
    assert ready["metric"]["namespace"] == site.namespace
    assert ready["metric"]["job"] == operator_job
    degraded = prom.one(f'modelserve_resource_condition{{{endpoint}, condition="Degraded"}}')
    assert degraded["value"] == 0


def test_chart_alert_rules_evaluate_live_and_a_ready_endpoint_trips_none(observed: Observed):
    prom, site = observed.prometheus, observed.site
    expected = {rule["alert"] for rule in observed.chart.alert_rules()}

    def evaluated_rules() -> list[dict[str, Any]]:
        rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
        # A rule not yet evaluated has health "unknown".
        return rules if all(r["health"] != "unknown" for r in rules) else []

    rules = wait_for(evaluated_rules, "every chart rule evaluated once", timeout=60)

    assert {r["name"] for r in rules} == expected
    assert [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"] == []
    for rule in observed.chart.alert_rules():
        prom.query(rule["expr"])  # parses and runs against live data, else fails with its error

    # The endpoint's Degraded series exists (0), so silence here means "not degraded".
    degraded = prom.query(
        f'modelserve_resource_condition{{kind="OnlineEndpoint", namespace="{site.namespace}", '
        f'name="{ENDPOINT}", condition="Degraded"}}'
    )
    assert [s["value"] for s in degraded] == [0]
    alerts = [
        a
        for a in prom.api("alerts")["alerts"]
        if a["labels"].get("namespace") == site.namespace
        and a["labels"]["alertname"]
        in ("ModelserveEndpointDegraded", "ModelserveEndpointErrorRatioHigh")
    ]
    assert alerts == []


def test_dashboard_variables_and_panels_find_the_endpoint(observed: Observed):
    prom, site = observed.prometheus, observed.site
    assert score_through_router(site, 5) == [200] * 5
    served = f'modelserve_requests_total{{namespace="{site.namespace}", route="score"}}'
    wait_for(lambda: prom.query(served), f"{served} scraped", timeout=60)
    dashboard = json.loads((CHART / "dashboards" / "modelserve-endpoint.json").read_text())
    variables = {v["name"]: v["query"]["query"] for v in dashboard["templating"]["list"][1:]}
    # Grafana fills its pickers with label_values(<selector>, <label>): the series API.
    assert site.namespace in label_values(prom, variables["namespace"], {})
    assert label_values(prom, variables["endpoint"], {"namespace": site.namespace}) == [ENDPOINT]

    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = (
                target["expr"]
                .replace("$namespace", site.namespace)
                .replace("$endpoint", ENDPOINT)
                .replace("$__rate_interval", "1m")
            )
            result = prom.query(expr)
            # Every panel shows the endpoint, except the 5xx ratio of one that never failed.
            if 'status=~"5.."' not in expr:
                assert result, f"panel {panel['title']!r} is empty: {expr}"
