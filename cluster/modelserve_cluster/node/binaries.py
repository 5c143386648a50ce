"""Locate every program the node runs: Kubernetes binaries, add-on binaries, Debian packages."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from modelserve_cluster.binaries import ensure_binaries
from modelserve_cluster.node.netfilter import NFQUEUE_STATUS

NODE_BINARIES = ("coredns", "metrics-server", "crictl", "pause", "netpol-agent")
KUBE_BINARIES = ("kubelet", "kube-proxy", "kubectl")
# Debian provides these; the message names the package to install.
HOST_COMMANDS = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "iptables-save": "iptables",
    "conntrack": "conntrack",
    "ip": "iproute2",
}
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")
CNI_BIN_DIR = Path("/usr/lib/cni")


class MissingPrerequisite(RuntimeError):
    """Something the node needs is not on this machine; the message says how to get it."""


@dataclass(frozen=True)
class NodeBinaries:
    """Paths of the programs a node runs."""

    kube_dir: Path
    node_dir: Path

    def kube(self, name: str) -> Path:
        return self.kube_dir / name

    def node(self, name: str) -> Path:
        return self.node_dir / name


def build_script() -> Path:
    """cluster/build-node-binaries.sh in the source tree."""
    return Path(__file__).resolve().parents[2] / "build-node-binaries.sh"


def ensure_node_binaries() -> Path:
    """The directory with CoreDNS, metrics-server, crictl, pause and the NetworkPolicy agent.

    Builds them when cold.
    """
    override = os.environ.get("MODELSERVE_NODE_BIN_DIR")
    if override:
        directory = Path(override)
    else:
        script = build_script()
        if not script.exists():
            raise MissingPrerequisite(f"{script} not found: set MODELSERVE_NODE_BIN_DIR")
        # Always asked, not only when a binary is missing: it also rebuilds one whose source
        # changed (the NetworkPolicy agent's), and answers at once when nothing did.
        out = subprocess.run(
            ["bash", str(script)], stdout=subprocess.PIPE, text=True, check=True
        ).stdout
        directory = Path(out.strip().splitlines()[-1])
    missing = [b for b in NODE_BINARIES if not os.access(directory / b, os.X_OK)]
    if missing:
        raise MissingPrerequisite(f"{directory} lacks {', '.join(missing)}")
    return directory


def check_host_prerequisites() -> None:
    """Fail with one message naming every missing Debian package."""
    packages = sorted({pkg for cmd, pkg in HOST_COMMANDS.items() if shutil.which(cmd) is None})
    if any(not (CNI_BIN_DIR / plugin).exists() for plugin in CNI_PLUGINS):
        packages.append("containernetworking-plugins")
    if packages:
        raise MissingPrerequisite(
            "the node needs Debian packages that are not installed: "
            f"apt-get install -y {' '.join(packages)}"
        )
    if not NFQUEUE_STATUS.exists():
        raise MissingPrerequisite(
            "the node enforces NetworkPolicies through a netfilter queue, and this kernel has "
            "none: it needs CONFIG_NETFILTER_NETLINK_QUEUE and CONFIG_NETFILTER_XT_TARGET_NFQUEUE"
        )
    if os.geteuid() != 0:
        raise MissingPrerequisite("the node runs containers and edits iptables: run it as root")


def _print_dir(script: Path, env_override: str) -> Path:
    override = os.environ.get(env_override)
    if override:
        return Path(override)
    return Path(
        subprocess.run(
            ["bash", str(script), "--print-dir"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )


def find_existing() -> NodeBinaries:
    """Where the binaries are (or would be), never building: for `down` and `status`."""
    from modelserve_cluster.binaries import build_script as kube_build_script

    return NodeBinaries(
        _print_dir(kube_build_script(), "MODELSERVE_BIN_DIR"),
        _print_dir(build_script(), "MODELSERVE_NODE_BIN_DIR"),
    )


def ensure_all() -> NodeBinaries:
    """Check the host, then find (or build) every binary."""
    check_host_prerequisites()
    kube_dir = ensure_binaries()
    missing = [b for b in KUBE_BINARIES if not os.access(kube_dir / b, os.X_OK)]
    if missing:
        raise MissingPrerequisite(
            f"{kube_dir} lacks {', '.join(missing)}: run cluster/build-binaries.sh"
        )
    return NodeBinaries(kube_dir, ensure_node_binaries())
