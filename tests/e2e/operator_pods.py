"""The operator's pods as the node runs them: the leader, its process, its network namespace."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import dataclass
from typing import Any

from e2e_target import NODE_NAME

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
    """crictl against the node's containerd: what kubelet does not show.

    containerd runs in kind's worker container, so crictl, kill and nsenter run there
    (`docker exec`), in its PID namespace.
    """

    def _on_node(self, *args: str) -> str:
        """Run a command in the worker node's container."""
        command = ["docker", "exec", NODE_NAME, *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout

    def _crictl(self, *args: str) -> str:
        return self._on_node("crictl", *args)

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
        """PID, on the node, of the pod's running operator container (its entrypoint)."""
        sandbox = self.sandbox(namespace, pod)
        (container,) = self._crictl(
            "ps", "--pod", sandbox, "--name", f"^{OPERATOR_CONTAINER}$", "--state", "Running", "-q"
        ).split()
        return int(json.loads(self._crictl("inspect", container))["info"]["pid"])

    def kill_operator(self, namespace: str, pod: str) -> None:
        """kill -9 the pod's operator process, as the node sees it."""
        self._on_node("kill", "-KILL", str(self.container_pid(namespace, pod)))

    def netns(self, namespace: str, pod: str) -> str:
        """Path of the pod's network namespace on the node."""
        spec = json.loads(self._crictl("inspectp", self.sandbox(namespace, pod)))
        (path,) = [
            n["path"]
            for n in spec["info"]["runtimeSpec"]["linux"]["namespaces"]
            if n.get("type") == "network"
        ]
        return path

    def iptables_in(self, netns: str, *args: str, check: bool = True) -> None:
        """iptables inside one pod's network namespace (the node made it for our pod)."""
        try:
            self._on_node("nsenter", f"--net={netns}", "iptables", *args)
        except subprocess.CalledProcessError:
            if check:
                raise
