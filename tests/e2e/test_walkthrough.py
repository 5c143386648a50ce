"""The walk-through users run (quickstart, kind): Helm-installed operator in a pod, a prediction."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from modelserve_cluster.node import layout as node_layout
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

WALKTHROUGH = Path(__file__).resolve().parents[2] / "hack" / "walkthrough.py"
SAMPLE_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def test_helm_installed_operator_serves_the_first_endpoint(cluster, node, operator_image: str):
    suffix = uuid.uuid4().hex[:6]
    names = [
        "--namespace",
        f"walkthrough-{suffix}",
        "--release",
        f"wt-{suffix}",
        "--operator-namespace",
        f"walkthrough-system-{suffix}",
    ]

    def walkthrough(action: str, *extra: str) -> list[str]:
        kubeconfig = ["--kubeconfig", str(cluster.kubeconfig)]
        return [sys.executable, str(WALKTHROUGH), action, *kubeconfig, *names, *extra]

    up = walkthrough("up", "--pin-node", node_layout.NODE_NAME)
    down = walkthrough("down")
    try:
        result = subprocess.run(up, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"walkthrough failed:\n{result.stdout}\n{result.stderr}"

        # No operator runs in this test's process: the chart's pod did the reconciling.
        pods = json.loads(
            cluster.kubectl(
                "get", "pods", "-n", f"walkthrough-system-{suffix}", "-o", "json"
            ).stdout
        )["items"]
        assert [p["spec"]["nodeName"] for p in pods] == [node_layout.NODE_NAME]
        container = pods[0]["spec"]["containers"][0]
        assert container["image"].endswith(operator_image.split("/", 1)[1])
        assert pods[0]["status"]["phase"] == "Running"

        # The pod chose its runtime at load time; the operator copies it to the Model.
        def model_runtime() -> dict | None:
            model = cluster.kubectl(
                "get", "model", "iris-1", "-n", f"walkthrough-{suffix}", "-o", "json"
            ).stdout
            return (json.loads(model).get("status") or {}).get("runtime")

        runtime = cluster.wait_for(model_runtime, "Model iris-1's status.runtime", timeout=60)
        # LogisticRegression compiles exactly, so `auto` serves it with ONNX Runtime.
        assert runtime["requested"] == "auto", runtime
        assert runtime["selected"] == "onnx", runtime
        assert runtime["fallback"] == "", runtime
        assert runtime["reportedBy"] == "iris/blue"

        x, y = load_iris(return_X_y=True)
        expected = LogisticRegression(max_iter=500).fit(x, y).predict(SAMPLE_ROWS).tolist()
        printed = result.stdout.strip().splitlines()[-1]
        assert json.loads(printed) == expected, result.stdout
    finally:
        cleanup = subprocess.run(down, capture_output=True, text=True, timeout=300)
    assert cleanup.returncode == 0, cleanup.stderr
    releases = subprocess.run(
        [
            str(cluster.bin_dir / "helm"),
            f"--kubeconfig={cluster.kubeconfig}",
            "list",
            "-A",
            "-q",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert f"wt-{suffix}" not in releases
