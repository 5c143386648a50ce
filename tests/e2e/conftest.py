"""Fixtures for the e2e tier: a kind cluster (kind_cluster.py) whose worker runs the pods."""

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
from e2e_target import shared_dir
from kind_cluster import KindCluster, cluster_name
from modelserve_cluster.app_images import app_images as listed_app_images
from modelserve_cluster.binaries import cached_binaries, ensure_binaries

REPO_ROOT = Path(__file__).resolve().parents[2]


class Kube:
    """kubectl against the test cluster in one namespace, JSON in and out."""

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
    cache makes a build of unchanged sources take seconds. The quickstart loads the same
    list onto a new kind cluster before any test runs (hack/test.sh), so nothing here can
    hide a missing image.
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


@pytest.fixture(scope="session")
def kind_e2e() -> Iterator[KindCluster]:
    """The kind cluster the tier runs on.

    Reused when it exists, else created from kind-config.yaml and the node image
    hack/kind/build.sh makes (and deleted at the end, unless MODELSERVE_KEEP_CLUSTER=1).
    Made only for the tests that ask for a cluster (`cluster` below): not for
    test_quickstart.py, which reads the quickstart's own, nor for the image tests.
    """
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
def cluster(kind_e2e: KindCluster, cluster):
    """tests/conftest.py's `cluster`, on the kind cluster: kind_e2e names its kubeconfig first.

    A session whose tests outside tests/e2e asked for a cluster first holds a kwokctl one,
    on which these tests' pods would never run: refused, naming the fix.
    """
    if cluster.kubeconfig != kind_e2e.kubeconfig:
        pytest.fail(
            f"this session's test cluster is {cluster.kubeconfig}, not the e2e tier's kind "
            "cluster: a test outside tests/e2e asked for a cluster first. Run tests/e2e in a "
            "pytest session of its own.",
            pytrace=False,
        )
    return cluster


@pytest.fixture(scope="session")
def node(cluster, app_images: dict[str, str], kind_e2e: KindCluster) -> KindCluster:
    """The cluster, with this tree's images loaded on its nodes (`kind load docker-image`)."""
    kind_e2e.load_images(list(app_images.values()))
    return kind_e2e


@pytest.fixture(scope="session")
def kube(cluster, node: KindCluster) -> Iterator[Kube]:
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
