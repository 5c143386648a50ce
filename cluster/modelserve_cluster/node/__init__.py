"""Layer 2 of the local cluster: one real node (kubelet, containerd, CNI, kube-proxy)."""

from modelserve_cluster.node.lifecycle import NodeStatus, down, status, up

__all__ = ["NodeStatus", "down", "status", "up"]
