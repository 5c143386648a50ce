"""Shared fixtures: the local control plane for the whole run, a fresh namespace per test."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from modelserve_cluster.binaries import cached_binaries, ensure_binaries
from modelserve_cluster.cluster import LocalCluster


@dataclass
class ClusterHandle:
    """What a test gets: the kubeconfig, a kubectl runner and a Kubernetes API client."""

    local: LocalCluster
    bin_dir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.local.kubeconfig

    @property
    def server(self) -> str:
        return self.local.server

    def kubectl(
        self, *args: str, input_text: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the cluster's kubectl; with check=True a failure fails the test with stderr."""
        return self.local.kubectl(self.bin_dir, *args, input_text=input_text, check=check)

    def api_client(self):  # -> kubernetes.client.ApiClient (import kept lazy)
        """A new client per caller: ApiClient holds a connection pool that is not shareable."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    @staticmethod
    def wait_for(check, what: str, timeout: float = 60.0):
        """Poll `check()` until truthy and return its value; fail the test at the deadline."""
        return wait_for(check, what, timeout)


def wait_for(check, what: str, timeout: float = 60.0, interval: float = 0.25):
    """Poll `check()` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}")


@pytest.fixture(scope="session")
def cluster() -> Iterator[ClusterHandle]:
    """The local cluster: reused if one is healthy, else started (and stopped at the end).

    Set MODELSERVE_KEEP_CLUSTER=1 to leave a cluster this run started running afterwards.
    A cluster that cannot start fails the test; it is never skipped.
    """
    local = LocalCluster()
    started_here = False
    try:
        reusable = local.status().healthy
        # A running cluster needs only kubectl from the cache; building is for starting.
        bin_dir = (cached_binaries() if reusable else None) or ensure_binaries()
        if not reusable:
            local.up(bin_dir)
            started_here = True
    except Exception as error:  # any reason the cluster is unusable must fail loudly
        pytest.fail(f"could not start the local cluster: {error}", pytrace=False)
    yield ClusterHandle(local, bin_dir)
    if started_here and os.environ.get("MODELSERVE_KEEP_CLUSTER") != "1":
        local.down()


@pytest.fixture
def namespace(cluster: ClusterHandle, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting for it to go)."""
    stem = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].rstrip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    # Pods are refused until the namespace's default ServiceAccount exists.
    wait_for(
        lambda: (
            cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode
            == 0
        ),
        f"the default ServiceAccount in namespace {name}",
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
