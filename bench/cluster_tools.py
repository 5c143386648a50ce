"""kubectl, helm and polling for the benchmarks that run on a cluster (kind or kwokctl)."""

from __future__ import annotations

import functools
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def _tool_dir() -> str:
    # Asked once: the benches call kubectl in polling loops, some of them while timing.
    return subprocess.run(
        [str(REPO / "cluster" / "build-binaries.sh"), "--print-dir"],
        capture_output=True,
        text=True,
    ).stdout.strip()


def kubectl_bin() -> str:
    """The project's own kubectl build (cluster/build-binaries.sh), else the one on PATH."""
    built = _tool_dir()
    return str(Path(built, "kubectl")) if built else "kubectl"


def helm_bin() -> str:
    """The project's own helm build, else the one on PATH."""
    built = _tool_dir()
    return str(Path(built, "helm")) if built and Path(built, "helm").exists() else "helm"


def run(argv: list[str], input_text: str | None = None, check: bool = True) -> str:
    """A command's stdout; with `check`, a failure ends the bench naming the command."""
    ran = subprocess.run(argv, input=input_text, capture_output=True, text=True, check=False)
    if check and ran.returncode != 0:
        raise SystemExit(f"{Path(argv[0]).name} {' '.join(argv[1:])}: {ran.stderr.strip()}")
    return ran.stdout


def kubectl(*args: str, input_text: str | None = None, check: bool = True) -> str:
    """`kubectl ARGS` (the kubeconfig from the environment)."""
    return run([kubectl_bin(), *args], input_text, check)


def kubectl_json(*args: str) -> dict:
    """`kubectl ARGS -o=json`, parsed."""
    return json.loads(kubectl(*args, "-o=json"))


def wait(check: Callable[[], Any], what: str, timeout: float = 300.0, interval: float = 0.2) -> Any:
    """The first truthy `check()`, polled every `interval` s; the bench ends after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def real_node() -> str:
    """A node that runs pods: not simulated, not a tainted control plane."""
    selector = "!modelserve.io/simulated,!node-role.kubernetes.io/control-plane"
    nodes = kubectl_json("get", "nodes", "-l", selector)["items"]
    if not nodes:
        raise SystemExit("no node runs pods: run ./hack/quickstart.sh first")
    return nodes[0]["metadata"]["name"]


def start_client_pod(namespace: str, node: str, name: str, image: str) -> None:
    """A pod that only sleeps, on `node`: its network namespace is where a bench's client
    runs, so its calls take the path another pod's calls take (ClusterIP, kube-proxy)."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "sleep",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["sleep", "infinity"],
                }
            ],
        },
    }
    kubectl("apply", "-n", namespace, "-f", "-", input_text=json.dumps(manifest))


def client_netns(namespace: str, name: str) -> str:
    """/proc/<pid>/ns/net of a process of pod `name` (found by its cgroup): kind's nodes are
    containers on this machine, so their pods' processes are visible here."""

    def find() -> str | None:
        pod = kubectl_json("get", "pod", name, "-n", namespace)
        if (pod.get("status") or {}).get("phase") != "Running":
            return None
        uid = pod["metadata"]["uid"]
        marks = (f"pod{uid}", f"pod{uid.replace('-', '_')}")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cgroups = (entry / "cgroup").read_text()
            except OSError:
                continue
            if any(mark in cgroups for mark in marks):
                return f"/proc/{entry.name}/ns/net"
        return None

    return wait(find, f"a process of pod {name} on this machine", timeout=120, interval=0.5)
