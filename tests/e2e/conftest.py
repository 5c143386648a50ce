"""Fixtures for the real-node tier: one real node joined to the shared control plane."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from modelserve_cluster import node as real_node

REPO_ROOT = Path(__file__).resolve().parents[2]
SCORING_IMAGE = "modelserve/scoring:dev"


class Kube:
    """kubectl against the local cluster in one namespace, JSON in and out."""

    def __init__(self, kubectl: Path, kubeconfig: Path, namespace: str) -> None:
        self.kubectl, self.kubeconfig, self.namespace = kubectl, kubeconfig, namespace

    def run(self, *args: str, input_text: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", f"-n={self.namespace}", *args],
            input=input_text,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def apply(self, *manifests: dict[str, Any]) -> None:
        self.run("apply", "-f", "-", input_text=yaml.safe_dump_all(manifests))

    def get(self, *args: str) -> dict[str, Any]:
        return json.loads(self.run("get", *args, "-o", "json"))


@pytest.fixture(scope="session")
def scoring_image() -> str:
    """The scoring image, built by images/build.sh when Docker lacks it (cached after once)."""
    present = subprocess.run(["docker", "image", "inspect", SCORING_IMAGE], capture_output=True)
    if present.returncode != 0:
        subprocess.run([str(REPO_ROOT / "images" / "build.sh"), "serving"], check=True)
    return SCORING_IMAGE


@pytest.fixture(scope="session")
def node(cluster, scoring_image: str) -> Iterator[real_node.NodeStatus]:
    """A real node on the shared control plane (`cluster`, tests/conftest.py); down at the end."""
    status = real_node.up(app_images=(scoring_image,))
    assert status.healthy, f"node not healthy: {status}"
    yield status
    real_node.down()


@pytest.fixture(scope="session")
def kube(cluster, node: real_node.NodeStatus) -> Iterator[Kube]:
    """A namespace of its own for the node tests."""
    admin = Kube(cluster.bin_dir / "kubectl", cluster.kubeconfig, "default")
    namespace = f"node-e2e-{uuid.uuid4().hex[:6]}"
    admin.run("create", "namespace", namespace)
    scoped = Kube(admin.kubectl, admin.kubeconfig, namespace)
    # Pods are refused until the namespace's default ServiceAccount exists.
    deadline = time.monotonic() + 60
    while not scoped.run("get", "serviceaccount", "default", check=False):
        assert time.monotonic() < deadline, f"no default ServiceAccount in {namespace}"
        time.sleep(0.5)
    yield scoped
    admin.run("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")
