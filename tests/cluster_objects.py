"""Reading objects and their conditions through the test cluster's kubectl (shared by tiers)."""

from __future__ import annotations

import ipaddress
import json

from modelserve_cluster.layout import SERVICE_CIDR


def get(cluster, namespace: str, kind: str, name: str) -> dict | None:
    """The object as JSON, or None when kubectl cannot get it (not there yet, or gone)."""
    result = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def condition(obj: dict | None, type_: str) -> dict:
    """The status condition of that type, or {} when the object has none."""
    for item in (obj or {}).get("status", {}).get("conditions", []):
        if item["type"] == type_:
            return item
    return {}


def unallocated_cluster_ip(cluster) -> str:
    """An address of the Service range that no Service holds (kube-proxy has no rule for it)."""
    services = json.loads(cluster.kubectl("get", "services", "-A", "-o", "json").stdout)
    taken = {ip for svc in services["items"] for ip in svc["spec"].get("clusterIPs", [])}
    network = ipaddress.ip_network(SERVICE_CIDR)
    # The allocator picks at random; the top of a /16 is almost never handed out.
    return next(str(network[-i]) for i in range(2, 100) if str(network[-i]) not in taken)
