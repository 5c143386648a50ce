"""Keep calls to the cluster's make-believe addresses on this machine, failing at once.

KWOK gives simulated pods and nodes addresses nothing answers, and a ClusterIP only leads
somewhere once kube-proxy has a rule for it. Such an address otherwise follows the
default route, and whatever lies beyond it answers instead: a sandbox's egress gateway
replies 403 or 404. So simulated networks get an `unreachable` route ("no route to
host", as for a vanished pod), and a connection to the Service range that kube-proxy did
not translate is refused ("connection refused", as kube-proxy's nftables mode does for an
unallocated ClusterIP). A translated connection no longer has a Service address by the
time the filter table sees it, so it passes.

Several kwokctl clusters (tests start a second one) share the addresses, so each holds
them with a file of its own and the last one to let go removes the routes and rules.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from modelserve_cluster.layout import FAKE_NODE_CIDR, POD_CIDR, SERVICE_CIDR

SIMULATED_NETWORKS = (POD_CIDR, FAKE_NODE_CIDR)
# Our routes carry this protocol number and our rules this comment, so we only ever
# delete what we added.
ROUTE_PROTOCOL = "91"
RULE_COMMENT = "modelserve-cluster"
HOLDERS_DIR = Path("/run/modelserve-cluster/unreachable-routes")


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def _holder(state_dir: Path) -> Path:
    return HOLDERS_DIR / hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]


def present(network: str) -> bool:
    """Whether our unreachable route for `network` is installed."""
    shown = _run(
        "ip", "-4", "route", "show", "exact", network, "type", "unreachable",
        "proto", ROUTE_PROTOCOL,
    )  # fmt: skip
    return bool(shown.stdout.strip())


def service_rule() -> list[str]:
    """Refuse this machine's own calls still addressed to the Service range after DNAT.

    The real node refuses its pods' calls the same way (see node/netfilter.py).
    """
    tag = ["-m", "comment", "--comment", RULE_COMMENT]
    return ["OUTPUT", "-d", SERVICE_CIDR, *tag, "-j", "REJECT"]


def rule_present(rule: list[str]) -> bool:
    return _run("iptables", "-C", *rule, check=False).returncode == 0


def permitted() -> bool:
    """Routes and rules need root (CAP_NET_ADMIN); an unprivileged cluster goes without."""
    return os.geteuid() == 0


def hold(state_dir: Path) -> None:
    """Install the routes and rules (unless present); record that this cluster needs them."""
    HOLDERS_DIR.mkdir(parents=True, exist_ok=True)
    _holder(state_dir).write_text(f"{state_dir}\n")
    for network in SIMULATED_NETWORKS:
        if not present(network):
            _run("ip", "route", "add", "unreachable", network, "proto", ROUTE_PROTOCOL)
    rule = service_rule()
    if not rule_present(rule):
        _run("iptables", "-I", rule[0], "1", *rule[1:])


def release(state_dir: Path) -> None:
    """Drop this cluster's hold; remove routes and rules when no cluster holds them."""
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
            _run("ip", "route", "del", "unreachable", network, "proto", ROUTE_PROTOCOL)
    while rule_present(service_rule()):
        _run("iptables", "-D", *service_rule())


def main(argv: list[str] | None = None) -> int:
    """`python -m modelserve_cluster.unreachable hold|release STATE_DIR`, for hack/kwokctl.sh.

    A kwokctl cluster gives its simulated pods and nodes the same addresses, so it holds
    the routes the same way, under its own state directory.
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    parser.add_argument("action", choices=["hold", "release"])
    parser.add_argument("state_dir", type=Path)
    args = parser.parse_args(argv)
    if not permitted():
        return 0
    (hold if args.action == "hold" else release)(args.state_dir.resolve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
