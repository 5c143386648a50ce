"""metrics-server on the e2e tier's kind cluster, for HorizontalPodAutoscalers on real CPU.

The binary is the one cluster/build-binaries.sh builds, in a FROM-scratch image loaded with
`kind load image-archive`; the manifests are modelserve_cluster.addons'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelserve_cluster import addons


def manifests() -> list[dict[str, Any]]:
    """metrics-server's objects, its pod on the pod network of a kind node."""
    return addons.metrics_server()


def image_archive(bin_dir: Path, out: Path) -> tuple[str, Path]:
    """The metrics-server image as a `docker save` archive: (image name, archive)."""
    image = addons.METRICS_SERVER_IMAGE
    return image, addons.write_single_binary_image(bin_dir / "metrics-server", image, out)
