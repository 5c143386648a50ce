"""The README's first command, as a newcomer runs it: a prediction, and what it left running.

hack/test.sh runs `./hack/quickstart.sh` before anything else prepares the machine (in CI
after deleting the quickstart's cluster, so no image loaded before is left) and hands its
output over in $MODELSERVE_QUICKSTART_LOG; without it, this test runs the quickstart
itself. The checks read the kind cluster the quickstart left running.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from modelserve_cluster.binaries import cached_binaries, ensure_binaries
from polling import wait_for
from walkthrough_output import assert_prints_the_models_prediction

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
CLUSTER = "modelserve"
KUBECONFIG = Path.home() / ".modelserve" / "kind-kubeconfig"
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


def _script_output(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


@functools.cache
def _bin_dir() -> Path:
    """kubectl and helm as the quickstart built them (cluster/build-binaries.sh)."""
    return cached_binaries() or ensure_binaries()


def _kubectl(*args: str) -> dict:
    out = subprocess.run(
        [str(_bin_dir() / "kubectl"), f"--kubeconfig={KUBECONFIG}", *args, "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def test_the_quickstart_prints_the_models_prediction(quickstart_output: str) -> None:
    assert_prints_the_models_prediction(quickstart_output)


def test_every_phase_is_timed_and_the_next_steps_are_shown(quickstart_output: str) -> None:
    table = quickstart_output[quickstart_output.rindex("\nphase ") :]
    phases = (
        "binaries",
        "setup",
        "docker engine",
        "images",
        "kind and its node image",
        "kind cluster",
        "operator (Helm)",
    )
    for phase in phases:
        assert re.search(rf"^{re.escape(phase)}.*\bok$", table, re.MULTILINE), table
    assert re.search(r"^total\s+\S+$", table, re.MULTILINE), table
    assert f"export KUBECONFIG={KUBECONFIG} " in quickstart_output
    assert f"kubectl get onlineendpoints,models -n {NAMESPACE}" in quickstart_output
    assert f"modelserve endpoint invoke iris -n {NAMESPACE}" in quickstart_output
    assert "./hack/quickstart.sh down" in quickstart_output


def test_kind_made_the_cluster_from_the_node_image_built_here(quickstart_output) -> None:
    nodes = _kubectl("get", "nodes")["items"]
    names = sorted(n["metadata"]["name"] for n in nodes)
    # kind-config.yaml: one control plane and one worker, named after the cluster.
    assert names == [f"{CLUSTER}-control-plane", f"{CLUSTER}-worker"]
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["status"]["conditions"]
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.3"
    # The nodes are Docker containers of the image hack/kind/build.sh made.
    image = _script_output(str(REPO / "hack" / "kind" / "build.sh"), "--print-image")
    for name in names:
        assert _script_output("docker", "inspect", "--format", "{{.Config.Image}}", name) == image


def test_the_operator_runs_from_the_chart_on_the_worker(quickstart_output) -> None:
    pods = _kubectl("get", "pods", "-n", OPERATOR_NAMESPACE)["items"]
    # No operator runs in this test's process: the chart's pods (a leader and a standby,
    # docs/operator-ha.md) did the reconciling, from the image built from this tree.
    assert [p["spec"]["nodeName"] for p in pods] == [f"{CLUSTER}-worker"] * 2
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"modelserve/operator:dev"}
    assert {p["status"]["phase"] for p in pods} == {"Running"}
    runtime = wait_for(
        lambda: _kubectl("get", "model", "iris-1", "-n", NAMESPACE)["status"]["runtime"],
        "Model iris-1's status.runtime",
        timeout=60,
    )
    # LogisticRegression compiles exactly, so `auto` serves it with ONNX Runtime.
    assert runtime["requested"] == "auto", runtime
    assert runtime["selected"] == "onnx", runtime
    assert runtime["fallback"] == "", runtime
    assert runtime["reportedBy"] == "iris/blue"


def test_the_walkthrough_down_removes_the_release(quickstart_output) -> None:
    down = [
        sys.executable,
        str(REPO / "hack" / "walkthrough.py"),
        "down",
        "--kubeconfig",
        str(KUBECONFIG),
        "--namespace",
        NAMESPACE,
    ]
    result = subprocess.run(down, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    helm = str(_bin_dir() / "helm")
    releases = _script_output(helm, f"--kubeconfig={KUBECONFIG}", "list", "-A", "-q")
    assert "modelserve" not in releases.split()
