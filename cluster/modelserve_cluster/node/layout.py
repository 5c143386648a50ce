"""Names, addresses and paths of the node: everything it creates is derived from here."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

NODE_NAME = "modelserve-node"
# A bridge of our own: the node's address lives on it, so nothing listens on the host's NICs.
BRIDGE = "msbr0"
CNI_NETWORK = "modelserve-pods"
# Outside the control plane's POD_CIDR (10.244.0.0/16), from which KWOK hands simulated
# pods their addresses: a real pod must never share an address with a simulated one.
NODE_POD_CIDR = "10.246.0.0/24"
NODE_IP = "10.246.0.1"
CLUSTER_DOMAIN = "cluster.local"
# Every rule we add carries this comment, so `down` can find exactly ours.
RULE_COMMENT = "modelserve-node"

# Host ports of the node's daemons; hostNetwork add-ons listen on NODE_IP only.
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 20248
KUBE_PROXY_HEALTHZ_PORT = 20256
KUBE_PROXY_METRICS_PORT = 20249
COREDNS_PORT = 10053
COREDNS_HEALTH_PORT = 10054
COREDNS_READY_PORT = 10055
METRICS_SERVER_PORT = 14443
NETPOL_AGENT_PORT = 20260
# The netfilter queue on which the NetworkPolicy agent judges new pod connections.
NETPOL_QUEUE = 100

# Images that pods of the node run; imported into containerd, never pulled.
PAUSE_IMAGE = "docker.io/modelserve/node-pause:r1"
COREDNS_IMAGE = "docker.io/modelserve/node-coredns:r1"
METRICS_SERVER_IMAGE = "docker.io/modelserve/node-metrics-server:r1"
CONTAINERD_NAMESPACE = "k8s.io"
# Pods' cgroups go under this parent in every hierarchy instead of the default /kubepods.
CGROUP_ROOT = "/modelserve-node"


def dns_service_ip(service_cidr: str) -> str:
    """The tenth address of the service range, as kubeadm and kind use for cluster DNS."""
    return str(ipaddress.ip_network(service_cidr)[10])


def default_node_dir() -> Path:
    """`$MODELSERVE_NODE_DIR`, else `~/.modelserve/node`."""
    override = os.environ.get("MODELSERVE_NODE_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return Path.home() / ".modelserve" / "node"


@dataclass(frozen=True)
class NodeLayout:
    """Every path under one node's state directory."""

    root: Path

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.config_dir / "containerd.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.config_dir / "cni"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni-ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def pod_logs_dir(self) -> Path:
        return self.root / "pod-logs"

    @property
    def kubelet_config(self) -> Path:
        return self.config_dir / "kubelet.yaml"

    @property
    def kube_proxy_config(self) -> Path:
        return self.config_dir / "kube-proxy.yaml"

    @property
    def resolv_conf(self) -> Path:
        return self.config_dir / "resolv.conf"

    @property
    def state_file(self) -> Path:
        """What `up` created (pids, rules, links), so `down` undoes exactly that."""
        return self.root / "state.json"

    @property
    def imported_images_file(self) -> Path:
        """Docker image IDs already in containerd; kept across down/up, like the images."""
        return self.root / "imported-images.json"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    def kubeconfig(self, component: str) -> Path:
        return self.config_dir / f"{component}.kubeconfig"

    def log_file(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    def create(self) -> None:
        for directory in (
            self.root,
            self.pki_dir,
            self.config_dir,
            self.log_dir,
            self.run_dir,
            self.containerd_root,
            self.containerd_state,
            self.cni_conf_dir,
            self.cni_ipam_dir,
            self.kubelet_root,
            self.images_dir,
            self.pod_logs_dir,
        ):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
