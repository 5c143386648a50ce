"""Where the e2e tier's pods run: the worker of the tier's kind cluster (kind_cluster.py).

Tests ask this module for the node their pods run on, the host's address as pods see it,
a host directory every node mounts, and how an image gets onto the node.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import kind_cluster

# The node the tier's pods are pinned to (nodeSelector kubernetes.io/hostname).
NODE_NAME = f"{kind_cluster.cluster_name()}-worker"


def shared_dir() -> Path:
    """The host directory kind mounts at the same path in every node."""
    return Path(tempfile.gettempdir()) / f"{kind_cluster.cluster_name()}-shared"


def _cluster() -> kind_cluster.KindCluster:
    # Names and paths only: what these helpers ask of the cluster needs no kubeconfig.
    return kind_cluster.KindCluster(kind_cluster.cluster_name(), Path(), shared_dir(), Path())


def host_address() -> str:
    """The host's address as pods see it: where a server on the host is reached from a pod."""
    return _cluster().host_address()


def host_volume_dir(prefix: str) -> Path:
    """A fresh host directory the node sees at the same path (for hostPath and local volumes)."""
    shared_dir().mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=shared_dir()))


def load_image(image: str) -> None:
    """Put a Docker image onto the node the tier's pods run on."""
    _cluster().load_images([image])
