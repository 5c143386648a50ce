"""The README's first command, as a newcomer runs it: a prediction, and what it left running.

hack/test.sh runs `./hack/quickstart.sh` before anything else prepares the machine (in CI
from a purged cluster: no state, no image in the node) and hands its output over in
$MODELSERVE_QUICKSTART_LOG; without it, this test runs the quickstart itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from modelserve_cluster.node import layout as node_layout
from walkthrough_output import assert_prints_the_models_prediction

pytestmark = [pytest.mark.node, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "modelserve-quickstart"
OPERATOR_NAMESPACE = "modelserve-system"


@pytest.fixture(scope="module")
def quickstart_output() -> str:
    log = os.environ.get("MODELSERVE_QUICKSTART_LOG")
    if log:
        return Path(log).read_text()
    result = subprocess.run(
        [str(REPO / "hack" / "quickstart.sh")], capture_output=True, text=True, timeout=1700
    )
    assert result.returncode == 0, f"quickstart failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_the_quickstart_prints_the_models_prediction(quickstart_output: str) -> None:
    assert_prints_the_models_prediction(quickstart_output)


def test_every_phase_is_timed_and_the_next_steps_are_shown(quickstart_output: str) -> None:
    table = quickstart_output[quickstart_output.rindex("\nphase ") :]
    phases = ("binaries", "setup", "docker engine", "images", "local cluster", "operator (Helm)")
    for phase in phases:
        assert re.search(rf"^{re.escape(phase)}.*\bok$", table, re.MULTILINE), table
    assert re.search(r"^total\s+\S+$", table, re.MULTILINE), table
    assert f"kubectl get onlineendpoints,models -n {NAMESPACE}" in quickstart_output
    assert f"modelserve endpoint invoke iris -n {NAMESPACE}" in quickstart_output
    assert "./hack/quickstart.sh down" in quickstart_output


def test_the_operator_runs_from_the_chart_on_the_real_node(cluster, quickstart_output) -> None:
    pods = json.loads(
        cluster.kubectl("get", "pods", "-n", OPERATOR_NAMESPACE, "-o", "json").stdout
    )["items"]
    # No operator runs in this test's process: the chart's pods (a leader and a standby,
    # docs/operator-ha.md) did the reconciling.
    assert [p["spec"]["nodeName"] for p in pods] == [node_layout.NODE_NAME] * 2
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"modelserve/operator:dev"}
    assert {p["status"]["phase"] for p in pods} == {"Running"}

    def model_runtime() -> dict | None:
        model = cluster.kubectl("get", "model", "iris-1", "-n", NAMESPACE, "-o", "json").stdout
        return (json.loads(model).get("status") or {}).get("runtime")

    runtime = cluster.wait_for(model_runtime, "Model iris-1's status.runtime", timeout=60)
    # LogisticRegression compiles exactly, so `auto` serves it with ONNX Runtime.
    assert runtime["requested"] == "auto", runtime
    assert runtime["selected"] == "onnx", runtime
    assert runtime["fallback"] == "", runtime
    assert runtime["reportedBy"] == "iris/blue"


def test_the_walkthrough_down_removes_the_release(cluster, quickstart_output) -> None:
    down = [
        sys.executable,
        str(REPO / "hack" / "walkthrough.py"),
        "down",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--namespace",
        NAMESPACE,
    ]
    result = subprocess.run(down, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    helm = [str(cluster.bin_dir / "helm"), f"--kubeconfig={cluster.kubeconfig}", "list", "-A"]
    releases = subprocess.run([*helm, "-q"], capture_output=True, text=True, check=True)
    assert "modelserve" not in releases.stdout.split()
