"""The chart's PrometheusRule, checked and unit-tested with Debian's real `promtool`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from chart_helpers import CI_VALUES, one, promtool_binary, render

ENABLED = ["metrics.prometheusRule.enabled=true"]


def rule_groups(values: list[Path] = (), sets: list[str] = ENABLED) -> dict:
    return one(render(values, sets), "PrometheusRule")["spec"]


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool_binary()), *args], cwd=cwd, capture_output=True, text=True)


CONDITION = "modelserve_resource_condition"


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    """One promtool input series: `name{labels}` with its expanding values notation."""
    matchers = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{matchers}}}", "values": values}


def description(groups: dict, alert: str, **labels: str) -> str:
    """An alert's description with `{{ $labels.x }}` filled in, as Prometheus renders it."""
    text = next(r for g in groups["groups"] for r in g["rules"] if r["alert"] == alert)[
        "annotations"
    ]["description"]
    rendered = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
    assert "{{" not in rendered, f"{alert}'s description uses more than $labels: {text}"
    return rendered


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_promtool_accepts_the_rules(values: Path, tmp_path: Path):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_groups([values])))
    result = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_alerts_fire_on_the_conditions_they_name_and_stay_quiet_otherwise(tmp_path: Path):
    groups = rule_groups()
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(groups))
    scoring = {"namespace": "ml", "modelserve_endpoint": "iris", "route": "score"}
    blue, green = {**scoring, "deployment": "blue"}, {**scoring, "deployment": "green"}
    degraded = {"namespace": "ml", "condition": "Degraded"}
    endpoint = {**degraded, "kind": "OnlineEndpoint", "reason": "DeploymentFailed"}
    batch = {**degraded, "kind": "BatchDeployment"}
    requests = "modelserve_requests_total"
    latency = "modelserve_request_duration_seconds_bucket"
    errors = "modelserve_operator_reconcile_errors_total"
    input_series = [
        # blue answers 10 % 5xx, green 1 %: only blue is over the default 5 %.
        series(requests, {**blue, "status": "200"}, "0+90x30"),
        series(requests, {**blue, "status": "500"}, "0+10x30"),
        series(requests, {**green, "status": "200"}, "0+99x30"),
        series(requests, {**green, "status": "503"}, "0+1x30"),
        # blue takes 1-2.5 s per request, green under 0.5 s.
        series(latency, {**blue, "le": "0.5"}, "0x30"),
        series(latency, {**blue, "le": "1"}, "0x30"),
        series(latency, {**blue, "le": "2.5"}, "0+100x30"),
        series(latency, {**blue, "le": "+Inf"}, "0+100x30"),
        *[series(latency, {**green, "le": le}, "0+100x30") for le in ("0.5", "1", "2.5", "+Inf")],
        # iris is Degraded throughout, across an operator restart (a new pod label);
        # wine only for 3 minutes, shorter than the alert's 5.
        series(CONDITION, {**endpoint, "name": "iris", "pod": "operator-1"}, "1 1 1"),
        series(CONDITION, {**endpoint, "name": "iris", "pod": "operator-2"}, "_ _ _ 1x27"),
        series(CONDITION, {**endpoint, "name": "wine", "pod": "operator-1"}, "0 1 1 1 0x26"),
        series(CONDITION, {**batch, "name": "nightly", "reason": "RunFailed"}, "0 0 1x28"),
        series(CONDITION, {**batch, "name": "hourly", "reason": "AsExpected"}, "0x30"),
        # Endpoints keep failing with 403; one Model conflict is a blip, not an alert.
        series(errors, {"kind": "OnlineEndpoint", "error": "http_403"}, "0+1x30"),
        series(errors, {"kind": "Model", "error": "http_409"}, "0 1x29"),
    ]
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series,
                "alert_rule_test": [
                    {
                        "eval_time": "4m",
                        "alertname": "ModelserveEndpointDegraded",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": "8m",
                        "alertname": "ModelserveEndpointDegraded",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "namespace": "ml",
                                    "name": "iris",
                                    "reason": "DeploymentFailed",
                                },
                                "exp_annotations": {
                                    "summary": "OnlineEndpoint ml/iris is degraded "
                                    "(DeploymentFailed)",
                                    "description": description(
                                        groups,
                                        "ModelserveEndpointDegraded",
                                        namespace="ml",
                                        name="iris",
                                        reason="DeploymentFailed",
                                    ),
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "20m",
                        "alertname": "ModelserveEndpointErrorRatioHigh",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "namespace": "ml",
                                    "modelserve_endpoint": "iris",
                                    "deployment": "blue",
                                },
                                "exp_annotations": {
                                    "summary": "10% of requests to ml/iris deployment blue "
                                    "fail with 5xx",
                                    "description": description(
                                        groups,
                                        "ModelserveEndpointErrorRatioHigh",
                                        namespace="ml",
                                        modelserve_endpoint="iris",
                                        deployment="blue",
                                    ),
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "20m",
                        "alertname": "ModelserveEndpointLatencyP99High",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "namespace": "ml",
                                    "modelserve_endpoint": "iris",
                                    "deployment": "blue",
                                },
                                "exp_annotations": {
                                    "summary": "p99 latency of ml/iris deployment blue is 2.485s",
                                    "description": description(
                                        groups, "ModelserveEndpointLatencyP99High"
                                    ),
                                },
                            }
                        ],
                    },
                    {"eval_time": "1m", "alertname": "ModelserveBatchRunFailed", "exp_alerts": []},
                    {
                        "eval_time": "2m",
                        "alertname": "ModelserveBatchRunFailed",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "namespace": "ml",
                                    "name": "nightly",
                                    "reason": "RunFailed",
                                },
                                "exp_annotations": {
                                    "summary": "The last run of BatchDeployment ml/nightly "
                                    "failed (RunFailed)",
                                    "description": description(
                                        groups,
                                        "ModelserveBatchRunFailed",
                                        namespace="ml",
                                        name="nightly",
                                    ),
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "25m",
                        "alertname": "ModelserveReconcileErrors",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "kind": "OnlineEndpoint",
                                    "error": "http_403",
                                },
                                "exp_annotations": {
                                    "summary": "The modelserve operator keeps failing to "
                                    "reconcile OnlineEndpoint objects (http_403)",
                                    "description": description(
                                        groups,
                                        "ModelserveReconcileErrors",
                                        kind="OnlineEndpoint",
                                        error="http_403",
                                    ),
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
