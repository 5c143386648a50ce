"""One namespace of the test cluster, written and read through the cluster's kubectl."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass
class NamespaceSite:
    """The namespace a test works in; each e2e file adds what its own tests need."""

    cluster: Any
    namespace: str

    def kubectl(self, *args: str, input_text: str | None = None, check: bool = True):
        return self.cluster.kubectl(*args, "-n", self.namespace, input_text=input_text, check=check)

    def apply(self, *documents: dict) -> None:
        self.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(documents))

    def get(self, kind: str, name: str) -> dict | None:
        """The object as JSON, or None when kubectl cannot get it (not there yet, or gone)."""
        result = self.kubectl("get", kind, name, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def ready(self, kind: str, name: str) -> bool:
        """Whether the object's Ready condition is True (False while it is missing)."""
        conditions = (self.get(kind, name) or {}).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
