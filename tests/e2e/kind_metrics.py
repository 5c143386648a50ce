"""metrics-server on the e2e tier's kind cluster, for HorizontalPodAutoscalers on real CPU.

kind ships without it; kind users install it with `--kubelet-insecure-tls` (kind's
kubelets serve self-signed certificates). The binary is the one cluster/build-binaries.sh
builds for the home-made node, in the same FROM-scratch image, loaded with
`kind load image-archive`; the manifests are the home-made node's, as ordinary pods.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from modelserve_cluster.node import addons, images
from modelserve_cluster.node import layout as node_layout

# Upstream's own port: the pod has a network namespace of its own.
PORT = 10250


def manifests() -> list[dict[str, Any]]:
    """The home-made node's metrics-server objects, its pod on the pod network of a kind node."""
    objects = copy.deepcopy(addons.metrics_server("unused", 0))
    for manifest in objects:
        if manifest["kind"] == "Deployment":
            spec = manifest["spec"]["template"]["spec"]
            for key in ("hostNetwork", "dnsPolicy", "nodeSelector"):
                spec.pop(key, None)
            (container,) = spec["containers"]
            container.pop("env")
            container["args"] = [
                f"--secure-port={PORT}",
                "--cert-dir=/tmp",
                "--kubelet-preferred-address-types=InternalIP",
                "--kubelet-use-node-status-port",
                "--metric-resolution=15s",
                "--kubelet-insecure-tls",
            ]
            container["readinessProbe"]["httpGet"].pop("host")
            container["readinessProbe"]["httpGet"]["port"] = PORT
        if manifest["kind"] == "Service":
            manifest["spec"]["ports"][0]["targetPort"] = PORT
    return objects


def image_archive(bin_dir: Path, out: Path) -> tuple[str, Path]:
    """The metrics-server image as a `docker save` archive: (image name, archive)."""
    image = node_layout.METRICS_SERVER_IMAGE
    return image, images.write_single_binary_image(bin_dir / "metrics-server", image, out)
