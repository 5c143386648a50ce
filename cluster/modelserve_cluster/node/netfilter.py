"""Host networking the node adds (bridge, FORWARD accepts) and removes again, rule by rule."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from modelserve_cluster.node import layout as L


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def forward_rules(pod_cidr: str, service_cidr: str) -> list[list[str]]:
    """Docker sets the FORWARD policy to DROP; these let pod traffic through, and only it.

    A pod's call still addressed to the Service range has no kube-proxy rule (an
    unallocated ClusterIP, or one not programmed yet): it is refused here rather than
    sent off the machine by the default route. Inserted last, it ends up first.
    """
    tag = ["-m", "comment", "--comment", L.RULE_COMMENT]
    return [
        ["FORWARD", "-s", pod_cidr, *tag, "-j", "ACCEPT"],
        ["FORWARD", "-d", pod_cidr, *tag, "-j", "ACCEPT"],
        ["FORWARD", "-s", pod_cidr, "-d", service_cidr, *tag, "-j", "REJECT"],
    ]


def api_access_rules(service_ip: str, apiserver_port: int) -> list[list[str]]:
    """Pods reach the API server, which listens on loopback only, at the `kubernetes` Service.

    kube-proxy cannot do this: the API refuses a loopback address in the Service's
    endpoints, so the Service has none and kube-proxy has no nat rule for it. Connections
    from our bridge to its ClusterIP are sent to the loopback listener instead;
    `route_localnet` on the bridge (see `allow_loopback_destination`) lets the kernel route
    them. Nothing outside our bridge reaches the API server this way.
    """
    tag = ["-m", "comment", "--comment", L.RULE_COMMENT]
    match = ["-i", L.BRIDGE, "-d", f"{service_ip}/32", "-p", "tcp", "--dport", "443"]
    target = ["-j", "DNAT", "--to-destination", f"127.0.0.1:{apiserver_port}"]
    return [["PREROUTING", *match, *tag, *target]]


def policy_queue_rules(pod_cidr: str) -> list[list[str]]:
    """Send the first packet of each pod connection to the NetworkPolicy agent's queue.

    kube-network-policies queues with nftables' `queue` statement, which kernels built
    without CONFIG_NFT_QUEUE (ours) refuse; iptables' NFQUEUE target reaches the same
    queue. POSTROUTING, after kube-proxy's DNAT: a call to a Service is judged against
    the pod it was sent to. Traffic of root-owned host sockets (the kubelet's probes, the
    API server's proxy) is let through unjudged, as kube-network-policies does; a packet
    without a socket (forwarded from a pod) is judged. `--queue-bypass`: while no agent
    listens, packets pass instead of being dropped.
    """
    tag = ["-m", "comment", "--comment", L.RULE_COMMENT]
    judge = [
        *("-m", "conntrack", "--ctstate", "NEW"),
        *("-m", "owner", "!", "--uid-owner", "0"),
        *tag,
        *("-j", "NFQUEUE", "--queue-num", str(L.NETPOL_QUEUE), "--queue-bypass"),
    ]
    return [["POSTROUTING", "-s", pod_cidr, *judge], ["POSTROUTING", "-d", pod_cidr, *judge]]


def ensure_mangle_rules(rules: list[list[str]]) -> list[list[str]]:
    """Append the mangle rules to their chains unless present; returns them."""
    for rule in rules:
        if _run("iptables", "-t", "mangle", "-C", *rule, check=False).returncode != 0:
            _run("iptables", "-t", "mangle", "-A", *rule)
    return rules


NFQUEUE_STATUS = Path("/proc/net/netfilter/nfnetlink_queue")


def queue_listener_bound(queue: int, status_file: Path = NFQUEUE_STATUS) -> bool:
    """Whether a process listens on netfilter queue `queue` (the agent is ready to judge)."""
    try:
        lines = status_file.read_text().splitlines()
    except OSError:
        return False
    return any(line.split()[:1] == [str(queue)] for line in lines)


def ensure_nat_rules(rules: list[list[str]]) -> list[list[str]]:
    """Insert the nat rules at the top of their chains unless present; returns them."""
    for rule in rules:
        if _run("iptables", "-t", "nat", "-C", *rule, check=False).returncode != 0:
            _run("iptables", "-t", "nat", "-I", rule[0], "1", *rule[1:])
    return rules


def allow_loopback_destination() -> None:
    """Let the bridge route packets to 127.0.0.1 (it goes away with the bridge on `down`)."""
    with open(f"/proc/sys/net/ipv4/conf/{L.BRIDGE}/route_localnet", "w") as handle:
        handle.write("1\n")


def ensure_forward_rules(pod_cidr: str, service_cidr: str) -> list[list[str]]:
    """Insert the rules at the top of FORWARD unless present; returns them."""
    rules = forward_rules(pod_cidr, service_cidr)
    for rule in rules:
        if _run("iptables", "-C", *rule, check=False).returncode != 0:
            _run("iptables", "-I", rule[0], "1", *rule[1:])
    return rules


def delete_rules(rules: list[list[str]], table: str = "filter") -> None:
    """Delete each rule (every copy of it) that is still there."""
    for rule in rules:
        while _run("iptables", "-t", table, "-C", *rule, check=False).returncode == 0:
            _run("iptables", "-t", table, "-D", *rule)


def ensure_bridge() -> None:
    """Create our bridge with the node address, before the kubelet binds to that address."""
    if _run("ip", "link", "show", L.BRIDGE, check=False).returncode != 0:
        _run("ip", "link", "add", L.BRIDGE, "type", "bridge")
    prefix = L.NODE_POD_CIDR.split("/")[1]
    addresses = _run("ip", "-o", "-4", "addr", "show", "dev", L.BRIDGE).stdout
    if f" {L.NODE_IP}/" not in addresses:
        _run("ip", "addr", "add", f"{L.NODE_IP}/{prefix}", "dev", L.BRIDGE)
    _run("ip", "link", "set", L.BRIDGE, "up")


def bridge_exists() -> bool:
    return _run("ip", "link", "show", L.BRIDGE, check=False).returncode == 0


def delete_bridge() -> None:
    if bridge_exists():
        _run("ip", "link", "delete", L.BRIDGE)


def enable_bridge_netfilter() -> None:
    """Bridged pod-to-Service traffic must pass iptables for kube-proxy's DNAT to apply."""
    for name in ("/proc/sys/net/bridge/bridge-nf-call-iptables", "/proc/sys/net/ipv4/ip_forward"):
        with open(name, "w") as handle:
            handle.write("1\n")


def our_rules() -> list[str]:
    """`iptables-save` lines that belong to the node: our comment, our network, kube-proxy."""
    found = []
    for table in ("filter", "nat", "mangle"):
        for line in _run("iptables-save", "-t", table).stdout.splitlines():
            if L.RULE_COMMENT in line or L.CNI_NETWORK in line or re.search(r"\bKUBE-", line):
                found.append(f"{table}: {line}")
    return found


def delete_cni_leftovers() -> None:
    """Remove masquerade rules and chains the bridge plugin left for our network, if any.

    Normally the CNI DEL of each sandbox removes them; this covers a sandbox that was
    never torn down (containerd killed, machine reset).
    """
    nat = _run("iptables-save", "-t", "nat").stdout.splitlines()
    chains = set()
    for line in nat:
        if line.startswith("-A ") and L.CNI_NETWORK in line:
            rule = _split_rule(line[3:])
            _run("iptables", "-t", "nat", "-D", *rule, check=False)
            if "-j" in rule:
                target = rule[rule.index("-j") + 1]
                if target.startswith("CNI-"):
                    chains.add(target)
    for chain in chains:
        _run("iptables", "-t", "nat", "-F", chain, check=False)
        _run("iptables", "-t", "nat", "-X", chain, check=False)


def _split_rule(text: str) -> list[str]:
    return shlex.split(text)


PORTMAP_CHAINS = ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ")


def existing_portmap_chains() -> list[str]:
    """Which of the portmap plugin's shared nat chains exist now."""
    nat = _run("iptables-save", "-t", "nat").stdout
    return [chain for chain in PORTMAP_CHAINS if f":{chain} " in nat]


def delete_portmap_chains(chains: list[str]) -> None:
    """Remove the given portmap chains and the jumps into them (only ones our pods created)."""
    nat = _run("iptables-save", "-t", "nat").stdout
    for line in nat.splitlines():
        if line.startswith("-A ") and any(line.endswith(f"-j {chain}") for chain in chains):
            _run("iptables", "-t", "nat", "-D", *_split_rule(line[3:]), check=False)
    for chain in chains:
        _run("iptables", "-t", "nat", "-F", chain, check=False)
        _run("iptables", "-t", "nat", "-X", chain, check=False)
