"""A namespace on the real node: the operator, pods pinned to the node, and a bound claim `models`.

The claim is a PersistentVolume on a fresh host directory, owned by the pods' uid (a
hostPath volume ignores fsGroup), so a trainer can write artifacts a scoring pod reads.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from modelserve_cluster.node.layout import NODE_NAME
from polling import wait_for

CLAIM = "models"


@dataclass
class ClaimedSite:
    """The namespace the operator watches and the host directory behind claim `models`."""

    cluster: Any
    namespace: str
    volume_dir: Path

    def kubectl(self, *args: str, input_text: str | None = None, check: bool = True):
        return self.cluster.kubectl(*args, "-n", self.namespace, input_text=input_text, check=check)

    def apply(self, *documents: dict) -> None:
        self.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(documents))

    def get(self, kind: str, name: str) -> dict | None:
        result = self.kubectl("get", kind, name, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None


Site = TypeVar("Site", bound=ClaimedSite)


def volume_and_claim(namespace: str, volume: str, path: Path) -> list[dict]:
    """A hostPath PersistentVolume on `path` and the claim `models` bound to it."""
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(path), "type": "Directory"},
                "claimRef": {"namespace": namespace, "name": CLAIM},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": CLAIM, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "",
                "volumeName": volume,
            },
        },
    ]


@contextmanager
def claimed_site(
    cluster, operator_factory, prefix: str, pod_uid: int, site_class: type[Site]
) -> Iterator[Site]:
    """A fresh namespace `<prefix>-<random>` with the claim bound and the operator running."""
    namespace = f"{prefix}-{uuid.uuid4().hex[:6]}"
    volume = f"{namespace}-{CLAIM}"
    volume_dir = Path(tempfile.mkdtemp(prefix=f"modelserve-{prefix}-"))
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
            lambda: (site.get("pvc", CLAIM) or {}).get("status", {}).get("phase") == "Bound",
            f"claim {CLAIM} bound",
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
