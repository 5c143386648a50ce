"""Reading objects and their conditions through the test cluster's kubectl (shared by tiers)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from modelserve_api.conditions import object_condition
from modelserve_client.artifacts import configmap_registration
from modelserve_cluster.layout import SERVICE_CIDR

MODELS_CLAIM = "models"


def get(cluster, namespace: str, kind: str, name: str) -> dict | None:
    """The object as JSON, or None when kubectl cannot get it (not there yet, or gone)."""
    result = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def spec_managers(cluster, namespace: str, kind: str, name: str) -> set[str]:
    """The field managers that own any field of the object's spec (status writers left out)."""
    result = cluster.kubectl(
        "get", kind, name, "-n", namespace, "-o", "json", "--show-managed-fields"
    )
    return {
        m["manager"]
        for m in json.loads(result.stdout)["metadata"]["managedFields"]
        if m.get("subresource") != "status" and "f:spec" in (m.get("fieldsV1") or {})
    }


# The status condition of that type, or {} when the object has none (the contract's helper).
condition = object_condition


def unallocated_cluster_ip(cluster) -> str:
    """An address of the Service range that no Service holds (kube-proxy has no rule for it)."""
    services = json.loads(cluster.kubectl("get", "services", "-A", "-o", "json").stdout)
    taken = {ip for svc in services["items"] for ip in svc["spec"].get("clusterIPs", [])}
    network = ipaddress.ip_network(SERVICE_CIDR)
    # The allocator picks at random; the top of a /16 is almost never handed out.
    return next(str(network[-i]) for i in range(2, 100) if str(network[-i]) not in taken)


def volume_and_claim(namespace: str, volume: str, path: Path) -> list[dict]:
    """A hostPath PersistentVolume on `path` and the claim `models` bound to it.

    On a simulated node nothing mounts the volume, so `path` need not exist there.
    """
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
                "claimRef": {"namespace": namespace, "name": MODELS_CLAIM},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": MODELS_CLAIM, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "",
                "volumeName": volume,
            },
        },
    ]


def configmap_model(artifact: bytes, version: str = "1") -> list[dict]:
    """The ConfigMap and Model iris-<version> that `modelserve model register` makes of a file."""
    return configmap_registration(artifact, "iris", version)
