"""A real Prometheus for the e2e tier: ServiceMonitors as file_sd scrape jobs, and its HTTP API.

Debian's Prometheus has no Kubernetes service discovery. A test writes file_sd target
files carrying the `__meta_kubernetes_*` labels Kubernetes discovery would, so the
Prometheus Operator's standard relabelling and a ServiceMonitor's own relabelings run
unchanged on them.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

SCRAPE_INTERVAL = "1s"


def wait_for(check: Callable[[], Any], what: str, timeout: float, interval: float = 1.0) -> Any:
    """Poll `check()` until truthy and return it; fail naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape_job(monitor: dict[str, Any], targets_file: Path) -> dict[str, Any]:
    """The scrape job the Prometheus Operator would generate for `monitor`, over file_sd.

    The target files carry the `__meta_kubernetes_*` labels of Kubernetes discovery, so the
    standard relabelling below and the ServiceMonitor's own `relabelings` run unchanged.
    """
    (endpoint,) = monitor["spec"]["endpoints"]
    standard = [
        {"source_labels": [f"__meta_kubernetes_{source}"], "target_label": target}
        for source, target in (
            ("namespace", "namespace"),
            ("service_name", "service"),
            ("pod_name", "pod"),
            ("pod_container_name", "container"),
            ("service_name", "job"),
        )
    ]
    standard.append({"target_label": "endpoint", "replacement": endpoint["port"]})
    return {
        "job_name": monitor["metadata"]["name"],
        "scrape_interval": SCRAPE_INTERVAL,
        "scrape_timeout": SCRAPE_INTERVAL,
        "metrics_path": endpoint.get("path", "/metrics"),
        "honor_labels": endpoint.get("honorLabels", False),
        "file_sd_configs": [{"files": [str(targets_file)]}],
        "relabel_configs": standard + [_snake_keys(r) for r in endpoint.get("relabelings", [])],
    }


def _snake_keys(relabeling: dict[str, Any]) -> dict[str, Any]:
    """A ServiceMonitor relabeling (sourceLabels, targetLabel) in Prometheus's spelling."""
    return {re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower(): v for key, v in relabeling.items()}


def meta_label(name: str) -> str:
    """A Kubernetes label key as Kubernetes discovery spells it in a meta label name."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def write_targets(path: Path, groups: list[dict[str, Any]]) -> None:
    # Atomically: Prometheus watches the file and must never read half of it.
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(groups))
    partial.replace(path)


class Prometheus:
    """Debian's prometheus, a child of this process on a loopback port; its HTTP API."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus not found: apt-get install prometheus (hack/setup.sh does)")
        self.url = f"http://127.0.0.1:{free_port()}"
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log_path = workdir / "prometheus.log"
        self.argv = [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={self.url.removeprefix('http://')}",
        ]

    def __enter__(self) -> Prometheus:
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._ready, f"Prometheus ready at {self.url}", timeout=60, interval=0.5)
        return self

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"prometheus exited ({self.process.returncode}):\n{self.log()}")
        try:
            return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def log(self) -> str:
        return self.log_path.read_text()[-4000:]

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; a PromQL error fails the test with Prometheus's own message."""
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        assert body["status"] == "success", f"{path} {params}: {body.get('error')}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant vector: [{"metric": {labels}, "value": float}, ...]."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", f"{expr} gave a {data['resultType']}"
        return [{"metric": r["metric"], "value": float(r["value"][1])} for r in data["result"]]

    def one(self, expr: str) -> dict[str, Any]:
        """The one series `expr` must give (its labels and value)."""
        result = self.query(expr)
        assert len(result) == 1, f"expected one series from {expr}, got {result}"
        return result[0]

    def value(self, expr: str) -> float | None:
        """The single sample `expr` gives, None when it gives none."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} gave {len(result)} series: {result}"
        return result[0]["value"] if result else None


def label_values(prom: Prometheus, variable_query: str, values: dict[str, str]) -> list[str]:
    """What Grafana lists for a `label_values(selector, label)` variable."""
    match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable_query)
    assert match, f"not a label_values() variable: {variable_query}"
    selector = match.group(1)
    for name, value in values.items():
        selector = selector.replace(f"${name}", value)
    series = prom.api("series", **{"match[]": selector})
    return sorted({s[match.group(2)] for s in series if match.group(2) in s})
