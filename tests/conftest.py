"""Shared fixtures: the test cluster, a fresh namespace per test, the in-process operator."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from modelserve_cluster.binaries import cached_binaries, ensure_binaries

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that collected no test fails: a selection that matches nothing is a mistake."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("\npytest collected no tests: that is a failure, not a pass")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@dataclass
class ClusterHandle:
    """What a test gets: the kubeconfig, a kubectl runner and a Kubernetes API client."""

    kubeconfig: Path
    bin_dir: Path

    def kubectl(
        self, *args: str, input_text: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the cached kubectl; with check=True a failure raises with its stderr."""
        result = subprocess.run(
            [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input_text,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def api_client(self):  # -> kubernetes.client.ApiClient (import kept lazy)
        """A new client per caller: ApiClient holds a connection pool that is not shareable."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def connection(self):  # -> modelserve_api.kube.Connection (import kept lazy)
        """The product's own API connection (modelserve_api.kube), as the operator uses it."""
        from modelserve_api.kube import Connection

        return Connection.from_kubeconfig(str(self.kubeconfig))

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
    """The test cluster: MODELSERVE_TEST_KUBECONFIG's, else a kwokctl one (hack/kwokctl.sh).

    A cluster named by MODELSERVE_TEST_KUBECONFIG (the e2e tier's kind cluster sets it,
    tests/e2e/conftest.py) is used as it is, never started or stopped here. Otherwise the
    kwokctl cluster is reused if it runs, else created and deleted at the end (set
    MODELSERVE_KEEP_CLUSTER=1 to keep it). A cluster that cannot start fails the test; it
    is never skipped.
    """
    try:
        # kubectl and helm come from the project's own build (cluster/build-binaries.sh).
        bin_dir = cached_binaries() or ensure_binaries()
    except Exception as error:
        pytest.fail(f"could not build kubectl and helm: {error}", pytrace=False)
    other = os.environ.get("MODELSERVE_TEST_KUBECONFIG")
    if other:
        yield ClusterHandle(Path(other), bin_dir)
        return
    kwokctl = str(REPO_ROOT / "hack" / "kwokctl.sh")
    running = subprocess.run(
        [str(bin_dir / "kwokctl"), "get", "clusters"], capture_output=True, text=True
    ).stdout.split()
    started_here = os.environ.get("MODELSERVE_KWOKCTL_NAME", "modelserve") not in running
    up = subprocess.run([kwokctl, "up"], capture_output=True, text=True)
    if up.returncode != 0:
        pytest.fail(f"could not start the kwokctl cluster:\n{up.stderr}", pytrace=False)
    yield ClusterHandle(Path(up.stdout.strip()), bin_dir)
    if started_here and os.environ.get("MODELSERVE_KEEP_CLUSTER") != "1":
        subprocess.run([kwokctl, "down"], capture_output=True, text=True)


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


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def crds(cluster: ClusterHandle) -> None:
    """The project's CRDs applied (server-side) and Established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "crds"))
    for crd in ("models", "onlineendpoints", "batchdeployments"):
        cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/{crd}.modelserve.io", "--timeout=60s"
        )


class Operator:
    """An in-process operator (Kopf's KopfRunner) watching one namespace; restartable.

    Settings reach it through the environment, set with `monkeypatch` before `start()`
    so they are undone with the fixture that owns the monkeypatch.
    """

    def __init__(
        self,
        cluster: ClusterHandle,
        namespace: str,
        monkeypatch: pytest.MonkeyPatch,
        env: dict[str, str] | None = None,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
        monkeypatch.setenv("MODELSERVE_OPERATOR_METRICS_PORT", str(free_port()))
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        self.runner = None

    def start(self) -> None:
        from kopf.testing import KopfRunner
        from modelserve_operator.handlers import state

        state.reset()
        args = ["run", "--standalone", "--namespace", self.namespace]
        args += ["--liveness", f"http://127.0.0.1:{free_port()}/healthz"]
        args += ["-m", "modelserve_operator.main"]
        self.runner = KopfRunner(args, timeout=60)
        self.runner.__enter__()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.__exit__(None, None, None)
            self.runner = None

    def delete_objects_and_stop(self) -> None:
        """Delete the namespace's modelserve objects while still running, then stop.

        Kopf puts its finalizer on every object it runs a timer for, and only a running
        operator takes it off: objects left to a namespace deletion would keep that
        namespace Terminating for ever.
        """
        if self.runner is not None:
            self.cluster.kubectl(
                "delete",
                "models,onlineendpoints,batchdeployments",
                "--all",
                "-n",
                self.namespace,
                "--wait=true",
                "--timeout=120s",
            )
        self.stop()


@pytest.fixture(scope="session")
def operator_factory(cluster: ClusterHandle, crds: None):
    """Makes (not starts) an in-process Operator: `operator_factory(namespace, monkeypatch, env)`.

    A factory rather than a fixture of the operator itself, so each tier picks its scope
    (a test, a module) and may stop and restart it.
    """

    def make(
        namespace: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str] | None = None
    ) -> Operator:
        return Operator(cluster, namespace, monkeypatch, env)

    return make
