"""hack/kwokctl.sh: a kwokctl cluster with our stages and nodes, on loopback, gone after `down`."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from modelserve_cluster import unreachable
from modelserve_cluster.layout import POD_CIDR

SCRIPT = Path(__file__).resolve().parents[2] / "hack" / "kwokctl.sh"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _script(env: dict[str, str], command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=300
    )


def _processes_of(workdir: Path) -> list[int]:
    """Processes whose command line names the kwokctl state directory."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(workdir) in command:
            found.append(int(proc.name))
    return found


@pytest.fixture
def kwokctl(cluster, tmp_path: Path) -> Iterator[tuple[object, Path]]:
    """A kwokctl cluster of this test's own (own name, state directory and API port)."""
    workdir = tmp_path / "kwok"
    env = {
        **os.environ,
        "KWOK_WORKDIR": str(workdir),
        "MODELSERVE_KWOKCTL_NAME": f"test-{uuid.uuid4().hex[:6]}",
        "MODELSERVE_KWOKCTL_PORT": str(_free_port()),
    }
    up = _script(env, "up")
    try:
        assert up.returncode == 0, up.stderr
        # The session's handle, pointed at this cluster: same kubectl, same cache.
        yield dataclasses.replace(cluster, kubeconfig=Path(up.stdout.strip())), workdir
    finally:
        down = _script(env, "down")
        assert down.returncode == 0, down.stderr
        assert _processes_of(workdir) == [], "kwokctl left processes behind"
        assert _route_holders(workdir) == [], "the cluster still holds the unreachable routes"


def _route_holders(workdir: Path) -> list[str]:
    """The state directories under `workdir` that hold the unreachable routes."""
    if not unreachable.HOLDERS_DIR.exists():
        return []
    held = (holder.read_text().strip() for holder in unreachable.HOLDERS_DIR.iterdir())
    return [state for state in held if state.startswith(str(workdir))]


def _job(name: str, annotations: dict[str, str]) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {"type": "kwok"},
                    "containers": [{"name": "main", "image": "registry.invalid/never-pulled:1"}],
                },
            },
        },
    }


def _job_outcome(handle, name: str) -> str | None:
    job = json.loads(handle.kubectl("get", "job", name, "-n", "default", "-o", "json").stdout)
    for condition in job.get("status", {}).get("conditions", []):
        if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
            return condition["type"]
    return None


def test_kwokctl_cluster_runs_our_stages_on_our_nodes_and_listens_on_loopback_only(kwokctl):
    handle, workdir = kwokctl
    nodes = handle.kubectl("get", "nodes", "-l", "type=kwok", "-o", "name").stdout.split()
    assert sorted(nodes) == ["node/kwok-node-0", "node/kwok-node-1"]
    # Its simulated addresses fail on this machine instead of following the default route.
    assert len(_route_holders(workdir)) == 1
    assert all(unreachable.present(network) for network in unreachable.SIMULATED_NETWORKS)

    # Our stages, not kwokctl's defaults: an annotation decides a Job pod's outcome.
    manifests = [_job("works", {}), _job("doomed", {"kwok.modelserve.io/outcome": "Failed"})]
    handle.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(manifests))
    assert handle.wait_for(lambda: _job_outcome(handle, "works"), "Job works") == "Complete"
    assert handle.wait_for(lambda: _job_outcome(handle, "doomed"), "Job doomed") == "Failed"

    pods = json.loads(handle.kubectl("get", "pods", "-n", "default", "-o", "json").stdout)
    addresses = [pod["status"]["podIP"] for pod in pods["items"]]
    assert addresses
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network(POD_CIDR) for a in addresses)

    # Every socket kwokctl's processes listen on is on loopback (kwokctl's default is 0.0.0.0).
    pids = _processes_of(workdir)
    assert len(pids) == 5, pids  # etcd, API server, controller-manager, scheduler, KWOK
    listening = subprocess.run(
        ["ss", "-Hltnp"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    ours = [line for line in listening if any(f"pid={pid}," in line for pid in pids)]
    assert ours
    assert all(line.split()[3].startswith("127.0.0.1:") for line in ours), ours
