"""Keep one NetworkPolicy of a batch or training workload: applied, or gone when opted out."""

from __future__ import annotations

from typing import Any

from ..builders import network_policy as netpol
from ..builders.common import NetworkPolicySettings
from ..kube import Kube
from .status import owned_by


def keep_network_policy(
    kube: Kube, settings: NetworkPolicySettings, manifest: dict[str, Any], owner_uid: str
) -> None:
    """Apply `manifest` when the operator makes policies; else delete ours if it is there."""
    if settings.enabled:
        kube.apply(manifest)
        return
    meta = manifest["metadata"]
    live = kube.get(netpol.API_VERSION, netpol.KIND, meta["namespace"], meta["name"])
    if live is not None and owned_by(live, owner_uid):
        kube.delete(netpol.API_VERSION, netpol.KIND, meta["namespace"], meta["name"])
