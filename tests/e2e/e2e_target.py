"""Which cluster the e2e tier runs on: the home-made one, or kind (MODELSERVE_E2E_CLUSTER=kind).

Tests ask this module, never the home-made node's layout, for the node their pods run on,
the host's address as pods see it, a host directory that node mounts, and how an image
gets onto the node.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import kind_cluster
from modelserve_cluster.node import layout as node_layout

ON_KIND = os.environ.get("MODELSERVE_E2E_CLUSTER", "local") == "kind"

# The node the tier's pods are pinned to (nodeSelector kubernetes.io/hostname).
NODE_NAME = f"{kind_cluster.cluster_name()}-worker" if ON_KIND else node_layout.NODE_NAME


def shared_dir() -> Path:
    """The host directory kind mounts at the same path in every node."""
    return Path(tempfile.gettempdir()) / f"{kind_cluster.cluster_name()}-shared"


def host_address() -> str:
    """The host's address as pods see it: where a server on the host is reached from a pod."""
    if ON_KIND:
        return kind_cluster.KindCluster(
            kind_cluster.cluster_name(), Path(), shared_dir(), Path()
        ).host_address()
    return node_layout.NODE_IP


def host_volume_dir(prefix: str) -> Path:
    """A fresh host directory the node sees at the same path (for hostPath and local volumes)."""
    if ON_KIND:
        shared_dir().mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=shared_dir()))
    return Path(tempfile.mkdtemp(prefix=prefix))


def load_image(image: str) -> None:
    """Put a Docker image onto the node the tier's pods run on."""
    if ON_KIND:
        kind_cluster.KindCluster(
            kind_cluster.cluster_name(), Path(), shared_dir(), Path()
        ).load_images([image])
        return
    from modelserve_cluster.node import images as node_images
    from modelserve_cluster.node.layout import NodeLayout, default_node_dir

    node_images.import_docker_image(NodeLayout(default_node_dir()).containerd_socket, image)
