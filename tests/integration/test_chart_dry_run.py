"""The chart rendered with each ci/ values file is accepted by the real API server (dry run)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "modelserve"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
# The Prometheus Operator's CRDs are not installed on the test cluster, and installing
# them in a shared cluster would change what other tests see; promtool and the unit
# tests check these two kinds instead.
NOT_SERVED_HERE = {"ServiceMonitor", "PrometheusRule"}


@pytest.fixture
def watched(cluster) -> Iterator[list[str]]:
    """Two fresh namespaces standing in for the namespaced values' watched ones."""
    names = [f"chart-watched-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    for name in names:
        cluster.kubectl("create", "namespace", name)
    yield names
    for name in names:
        cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


def render(cluster, values: Path, release_namespace: str, sets: list[str]) -> list[dict]:
    """`helm template` for this cluster's version (the bin cache's helm, as the e2e uses)."""
    helm = cluster.bin_dir / "helm"
    assert helm.exists(), f"{helm} is missing: run hack/setup.sh"
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]
    args = [str(helm), "template", "ms", str(CHART), "--include-crds", "--namespace"]
    args += [release_namespace, "--kube-version", version["gitVersion"], "-f", str(values)]
    for item in sets:
        args += ["--set", item]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_server_side_dry_run_accepts_every_object(cluster, crds, namespace, watched, values: Path):
    sets = []
    if yaml.safe_load(values.read_text()).get("watchNamespaces"):
        sets.append("watchNamespaces={" + ",".join(watched) + "}")
    objects = render(cluster, values, namespace, sets)
    kinds = {o["kind"] for o in objects}
    assert {"CustomResourceDefinition", "Deployment", "ServiceAccount"} <= kinds
    served = [o for o in objects if o["kind"] not in NOT_SERVED_HERE]
    result = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--server-side",
        "--field-manager=helm",
        "--force-conflicts",
        "-f",
        "-",
        input_text=yaml.safe_dump_all(served),
        check=False,
    )
    assert result.returncode == 0, f"the API server refused the chart:\n{result.stderr}"
    applied = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
    assert len(applied) == len(served), result.stdout
    if sets:
        # A Role per watched namespace and the leader election's in the release namespace;
        # cluster-wide only the reader of its own CRDs.
        assert sum(line.startswith("role.rbac") for line in applied) == 3
        assert sum(line.startswith("clusterrole.rbac") for line in applied) == 1
