"""Unreachable routes for simulated addresses, so no call to a KWOK pod leaves the machine.

KWOK gives simulated pods and nodes addresses nothing answers. Without a route of their
own they follow the default route, and whatever lies beyond it answers instead: a
sandbox's egress gateway replies 403 or 404 to a pod-proxy call. An `unreachable` route
makes such a connection fail at once with "no route to host", as on a real cluster where
the pod is gone, and keeps the traffic on this machine.

Several local clusters (tests start a second one) share the addresses, so each holds the
routes with a file of its own and the last one to let go removes them.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from modelserve_cluster.layout import FAKE_NODE_CIDR, POD_CIDR

SIMULATED_NETWORKS = (POD_CIDR, FAKE_NODE_CIDR)
# Our routes carry this protocol number, so we only ever delete routes we added.
ROUTE_PROTOCOL = "91"
HOLDERS_DIR = Path("/run/modelserve-cluster/unreachable-routes")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _holder(state_dir: Path) -> Path:
    return HOLDERS_DIR / hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]


def present(network: str) -> bool:
    """Whether our unreachable route for `network` is installed."""
    shown = _ip(
        "-4", "route", "show", "exact", network, "type", "unreachable", "proto", ROUTE_PROTOCOL
    )
    return bool(shown.stdout.strip())


def permitted() -> bool:
    """Routes need root (CAP_NET_ADMIN); an unprivileged cluster runs without them."""
    return os.geteuid() == 0


def hold(state_dir: Path) -> None:
    """Install the routes (unless present) and record that this cluster relies on them."""
    HOLDERS_DIR.mkdir(parents=True, exist_ok=True)
    _holder(state_dir).write_text(f"{state_dir}\n")
    for network in SIMULATED_NETWORKS:
        if not present(network):
            _ip("route", "add", "unreachable", network, "proto", ROUTE_PROTOCOL)


def release(state_dir: Path) -> None:
    """Drop this cluster's hold; remove the routes when no live cluster holds them."""
    if not HOLDERS_DIR.exists():
        return
    _holder(state_dir).unlink(missing_ok=True)
    for holder in HOLDERS_DIR.iterdir():
        # A cluster whose state directory is gone (purged, a deleted tmp dir) holds nothing.
        if not Path(holder.read_text().strip()).exists():
            holder.unlink(missing_ok=True)
    if any(HOLDERS_DIR.iterdir()):
        return
    for network in SIMULATED_NETWORKS:
        if present(network):
            _ip("route", "del", "unreachable", network, "proto", ROUTE_PROTOCOL, check=False)
