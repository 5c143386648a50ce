"""Reading objects and their conditions through the test cluster's kubectl (shared by tiers)."""

from __future__ import annotations

import json


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
