"""Fixtures for the real-node tier: one real node joined to the shared control plane."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_target import ON_KIND, shared_dir
from kind_cluster import KindCluster, cluster_name
from modelserve_cluster import node as real_node
from modelserve_cluster.app_images import app_images as listed_app_images
from modelserve_cluster.binaries import cached_binaries, ensure_binaries

REPO_ROOT = Path(__file__).resolve().parents[2]


# Files that test the home-made cluster itself (its node, the quickstart that starts it):
# on kind there is nothing for them to test, so a kind run leaves them out.
HOME_MADE_ONLY = ("test_node.py", "test_quickstart.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With MODELSERVE_E2E_CLUSTER=kind, deselect the files of HOME_MADE_ONLY."""
    if not ON_KIND:
        return
    left_out = [item for item in items if item.path.name in HOME_MADE_ONLY]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item.path.name not in HOME_MADE_ONLY]


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
def app_images() -> dict[str, str]:
    """images/images.txt built from the working tree: image name (no tag) → tagged image.

    Built every session, not only when Docker lacks them: an image left from an older
    tree would test old code (a scoring image without the trainer, say). Docker's layer
    cache makes a build of unchanged sources take seconds. The node loads the same list
    (`modelserve-cluster up --with-node`), which the quickstart checks from a clean node
    before any test runs (hack/test.sh), so nothing here can hide a missing image.
    """
    subprocess.run([str(REPO_ROOT / "images" / "build.sh"), "all"], check=True)
    return {image.rsplit(":", 1)[0]: image for image in listed_app_images()}


@pytest.fixture(scope="session")
def scoring_image(app_images: dict[str, str]) -> str:
    """The scoring image (serve, batch and train), built from the working tree."""
    return app_images["modelserve/scoring"]


@pytest.fixture(scope="session")
def router_image(app_images: dict[str, str]) -> str:
    """The endpoint router's image (nginx), built from the working tree."""
    return app_images["modelserve/router"]


@pytest.fixture(scope="session")
def operator_image(app_images: dict[str, str]) -> str:
    """The operator's image, built from the working tree."""
    return app_images["modelserve/operator"]


@pytest.fixture(scope="session", autouse=True)
def kind_e2e() -> Iterator[KindCluster | None]:
    """With MODELSERVE_E2E_CLUSTER=kind, the kind cluster the tier runs on; else None.

    Reused when it exists, else created from kind-config.yaml and the node image
    hack/kind/build.sh makes (and deleted at the end, unless MODELSERVE_KEEP_CLUSTER=1).
    The `cluster` fixture (tests/conftest.py) then uses its kubeconfig as it is.
    """
    if not ON_KIND:
        yield None
        return
    name = cluster_name()
    kind = KindCluster(
        name,
        shared_dir().parent / f"{name}.kubeconfig",
        shared_dir(),
        (cached_binaries() or ensure_binaries()) / "kubectl",
    )
    created = False
    if not kind.exists():
        image = subprocess.run(
            [str(REPO_ROOT / "hack" / "kind" / "build.sh")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        seconds = kind.create(image)
        print(f"\nkind create cluster {name} ({image}): every node Ready after {seconds:.1f} s")
        created = True
    kind.write_kubeconfig()
    kind.add_routes()
    kind.install_metrics_server()
    kind.install_netpol_agent()
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("MODELSERVE_TEST_KUBECONFIG", str(kind.kubeconfig))
    # The scoring pods' NetworkPolicies must admit the API server's pod proxy (the
    # operator reads monitoring reports through it): in-process operators read this, and
    # hack/walkthrough.py passes it to the chart (networkPolicies.apiServerCIDRs).
    monkeypatch.setenv("MODELSERVE_API_SERVER_CIDRS", kind.apiserver_cidrs())
    yield kind
    monkeypatch.undo()
    if created and os.environ.get("MODELSERVE_KEEP_CLUSTER") != "1":
        kind.delete()


@pytest.fixture(scope="session")
def node(
    cluster, app_images: dict[str, str], kind_e2e: KindCluster | None
) -> Iterator[real_node.NodeStatus | KindCluster]:
    """A real node on the shared control plane (`cluster`, tests/conftest.py); down at the end.

    On kind, the worker node, with this tree's images loaded (`kind load docker-image`).

    It is left running afterwards, so the next run starts warm (a minute saved) and other
    test runs sharing it are not cut off; `modelserve-cluster down` stops it (CI does).
    Set MODELSERVE_KEEP_NODE=0 to stop it when the session ends.
    """
    if kind_e2e is not None:
        kind_e2e.load_images(list(app_images.values()))
        yield kind_e2e
        return
    # up() loads every listed image and fails on one Docker lacks.
    status = real_node.up(app_images=tuple(app_images.values()))
    assert status.healthy, f"node not healthy: {status}"
    yield status
    if os.environ.get("MODELSERVE_KEEP_NODE", "1") == "0":
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
