"""The node's few calls to the API server, through the cluster's own kubectl."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml


class Kubectl:
    """kubectl bound to one kubeconfig."""

    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def run(
        self, *args: str, input_text: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def apply(self, manifests: list[dict[str, Any]]) -> None:
        """Server-side apply with one field manager, so re-running `up` converges."""
        self.run(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=modelserve-node",
            "-f",
            "-",
            input_text=yaml.safe_dump_all(manifests),
        )

    def get_json(self, *args: str) -> dict[str, Any] | None:
        result = self.run("get", *args, "-o", "json", check=False, timeout=20)
        if result.returncode != 0:
            return None
        return json.loads(result.stdout)


def condition_true(obj: dict[str, Any] | None, condition: str) -> bool:
    """Whether `status.conditions` has `condition` with status True."""
    if not obj:
        return False
    for item in obj.get("status", {}).get("conditions", []):
        if item.get("type") == condition:
            return item.get("status") == "True"
    return False


def server_of(kubeconfig: Path) -> str:
    """The API server URL of a kubeconfig's current context."""
    config = yaml.safe_load(kubeconfig.read_text())
    contexts = {c["name"]: c["context"] for c in config.get("contexts", [])}
    clusters = {c["name"]: c["cluster"] for c in config.get("clusters", [])}
    context = contexts.get(config.get("current-context"), next(iter(contexts.values()), {}))
    cluster = clusters.get(context.get("cluster"), next(iter(clusters.values()), {}))
    return cluster["server"]
