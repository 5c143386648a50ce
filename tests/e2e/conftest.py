"""Fixtures for the real-node tier: the control plane, one real node, a namespace, kubectl."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from modelserve_cluster import node as real_node
from modelserve_cluster.binaries import ensure_binaries
from modelserve_cluster.cluster import LocalCluster

REPO_ROOT = Path(__file__).resolve().parents[2]
SCORING_IMAGE = "modelserve/scoring:dev"


class Kube:
    """kubectl against the local cluster, JSON in and out."""

    def __init__(self, kubectl: Path, kubeconfig: Path, namespace: str) -> None:
        self.kubectl, self.kubeconfig, self.namespace = kubectl, kubeconfig, namespace

    def run(self, *args: str, input_text: str | None = None) -> str:
        result = subprocess.run(
            [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", f"-n={self.namespace}", *args],
            input=input_text,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def apply(self, *manifests: dict[str, Any]) -> None:
        self.run("apply", "-f", "-", input_text=yaml.safe_dump_all(manifests))

    def get(self, *args: str) -> dict[str, Any]:
        return json.loads(self.run("get", *args, "-o", "json"))


@pytest.fixture(scope="session")
def control_plane() -> LocalCluster:
    cluster = LocalCluster()
    status = cluster.up(ensure_binaries())
    assert status.healthy, f"control plane not healthy: {status}"
    return cluster


@pytest.fixture(scope="session")
def scoring_image() -> str:
    """The scoring image, built by images/build.sh when Docker lacks it (cached after once)."""
    present = subprocess.run(["docker", "image", "inspect", SCORING_IMAGE], capture_output=True)
    if present.returncode != 0:
        subprocess.run([str(REPO_ROOT / "images" / "build.sh"), "serving"], check=True)
    return SCORING_IMAGE


@pytest.fixture(scope="session")
def node(control_plane: LocalCluster, scoring_image: str) -> Iterator[real_node.NodeStatus]:
    status = real_node.up(app_images=(scoring_image,))
    assert status.healthy, f"node not healthy: {status}"
    yield status
    real_node.down()


@pytest.fixture(scope="session")
def kube(control_plane: LocalCluster, node: real_node.NodeStatus) -> Iterator[Kube]:
    namespace = f"node-e2e-{uuid.uuid4().hex[:6]}"
    admin = Kube(ensure_binaries() / "kubectl", control_plane.kubeconfig, "default")
    admin.run("create", "namespace", namespace)
    yield Kube(admin.kubectl, admin.kubeconfig, namespace)
    admin.run("delete", "namespace", namespace, "--wait=false")
