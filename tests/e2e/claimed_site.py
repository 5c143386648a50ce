"""A namespace on the real node: the operator, pods pinned to the node, and a bound claim `models`.

The claim is a PersistentVolume on a fresh host directory, owned by the pods' uid (a
hostPath volume ignores fsGroup), so a trainer can write artifacts a scoring pod reads.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from cluster_objects import MODELS_CLAIM, volume_and_claim
from e2e_target import NODE_NAME, host_volume_dir
from namespace_site import NamespaceSite
from polling import wait_for


@dataclass
class ClaimedSite(NamespaceSite):
    """The namespace the operator watches and the host directory behind claim `models`."""

    volume_dir: Path


Site = TypeVar("Site", bound=ClaimedSite)


@contextmanager
def claimed_site(
    cluster, operator_factory, prefix: str, pod_uid: int, site_class: type[Site]
) -> Iterator[Site]:
    """A fresh namespace `<prefix>-<random>` with the claim bound and the operator running."""
    namespace = f"{prefix}-{uuid.uuid4().hex[:6]}"
    volume = f"{namespace}-{MODELS_CLAIM}"
    volume_dir = host_volume_dir(f"modelserve-{prefix}-")
    os.chown(volume_dir, pod_uid, pod_uid)  # a hostPath volume ignores fsGroup
    volume_dir.chmod(0o755)
    cluster.kubectl("create", "namespace", namespace)
    monkeypatch = pytest.MonkeyPatch()
    operator = operator_factory(
        namespace, monkeypatch, {"MODELSERVE_NODE_SELECTOR": f"kubernetes.io/hostname={NODE_NAME}"}
    )
    site = site_class(cluster, namespace, volume_dir)
    try:
        wait_for(lambda: site.get("serviceaccount", "default"), "default ServiceAccount", 60)
        cluster.kubectl(
            "apply",
            "-f",
            "-",
            input_text=yaml.safe_dump_all(volume_and_claim(namespace, volume, volume_dir)),
        )
        wait_for(
            lambda: (site.get("pvc", MODELS_CLAIM) or {}).get("status", {}).get("phase") == "Bound",
            f"claim {MODELS_CLAIM} bound",
            60,
        )
        operator.start()
        yield site
    finally:
        operator.delete_objects_and_stop()
        monkeypatch.undo()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")
        cluster.kubectl("delete", "pv", volume, "--wait=false", "--ignore-not-found")
        shutil.rmtree(volume_dir, ignore_errors=True)
