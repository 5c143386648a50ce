"""Locate every program the node runs: the binaries built from Go modules, Debian packages."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from modelserve_cluster.binaries import binaries_dir, ensure_binaries
from modelserve_cluster.node.netfilter import NFQUEUE_STATUS

# Beside the control plane's: the node's daemons and the add-on images made of one binary.
NODE_BINARIES = (
    "kubelet",
    "kube-proxy",
    "kubectl",
    "coredns",
    "metrics-server",
    "crictl",
    "pause",
    "netpol-agent",
)
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
    """Where the programs a node runs are: cluster/build-binaries.sh builds them all into one."""

    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name


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


def find_existing() -> NodeBinaries:
    """Where the binaries are (or would be), never building: for `down` and `status`."""
    return NodeBinaries(binaries_dir())


def ensure_all() -> NodeBinaries:
    """Check the host, then find (or build) every binary."""
    check_host_prerequisites()
    directory = ensure_binaries()
    missing = [b for b in NODE_BINARIES if not os.access(directory / b, os.X_OK)]
    if missing:
        raise MissingPrerequisite(
            f"{directory} lacks {', '.join(missing)}: run cluster/build-binaries.sh"
        )
    return NodeBinaries(directory)
