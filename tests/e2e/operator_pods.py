"""The operator's pods as the real node runs them: the leader, host PIDs, network namespaces."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import dataclass
from typing import Any

from modelserve_cluster.node.binaries import find_existing
from modelserve_cluster.node.lifecycle import Node

OPERATOR_CONTAINER = "operator"


def parse_time(value: str) -> dt.datetime:
    """An RFC 3339 time as the API writes it (Time or MicroTime)."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class LeaseView:
    holder_pod: str
    holder: str
    acquire_time: dt.datetime
    transitions: int


def lease_view(lease: dict[str, Any]) -> LeaseView:
    spec = lease["spec"]
    holder = spec.get("holderIdentity") or ""
    return LeaseView(
        holder_pod=holder.rsplit("_", 1)[0],
        holder=holder,
        acquire_time=parse_time(spec["acquireTime"]),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


class NodeRuntime:
    """crictl against the real node's containerd: what kubelet does not show."""

    def __init__(self) -> None:
        self.node = Node()
        self.bins = find_existing()

    def _crictl(self, *args: str) -> str:
        return self.node.crictl(self.bins, *args, check=True).stdout

    def sandbox(self, namespace: str, pod: str) -> str:
        ids = self._crictl("pods", "--namespace", namespace, "--name", f"^{pod}$", "-q").split()
        ready = [
            s
            for s in ids
            if json.loads(self._crictl("inspectp", s))["status"]["state"] == "SANDBOX_READY"
        ]
        (sandbox,) = ready
        return sandbox

    def container_pid(self, namespace: str, pod: str) -> int:
        """Host PID of the pod's running operator container (its entrypoint is the operator)."""
        sandbox = self.sandbox(namespace, pod)
        (container,) = self._crictl(
            "ps", "--pod", sandbox, "--name", f"^{OPERATOR_CONTAINER}$", "--state", "Running", "-q"
        ).split()
        return int(json.loads(self._crictl("inspect", container))["info"]["pid"])

    def netns(self, namespace: str, pod: str) -> str:
        """Path of the pod's network namespace on the host."""
        spec = json.loads(self._crictl("inspectp", self.sandbox(namespace, pod)))
        (path,) = [
            n["path"]
            for n in spec["info"]["runtimeSpec"]["linux"]["namespaces"]
            if n.get("type") == "network"
        ]
        return path


def iptables_in(netns: str, *args: str) -> None:
    """iptables inside one pod's network namespace (ours: the node made it for our pod)."""
    subprocess.run(
        ["nsenter", f"--net={netns}", "iptables", *args], check=True, capture_output=True, text=True
    )
