"""A real node that is not healthy says which part failed and which log to read."""

from __future__ import annotations

from pathlib import Path

from modelserve_cluster.node.lifecycle import NodeStatus

NODE = Path("/root/.modelserve/node")
DAEMONS_UP = {"containerd": True, "kubelet": True, "kube-proxy": True, "netpol-agent": True}


def test_a_healthy_node_has_no_problem():
    status = NodeStatus(NODE, dict(DAEMONS_UP), node_ready=True, dns_ready=True, metrics_ready=True)
    assert status.healthy
    assert status.problems() == []


def test_a_stopped_daemon_is_named_with_its_log():
    daemons = {**DAEMONS_UP, "netpol-agent": False}
    status = NodeStatus(NODE, daemons, node_ready=True, dns_ready=True, metrics_ready=True)

    assert not status.healthy
    assert status.problems() == [
        f"netpol-agent is not running: read {NODE / 'logs' / 'netpol-agent.log'}"
    ]


def test_every_failed_part_and_leftover_is_named():
    status = NodeStatus(NODE, {}, leftovers=["route 10.244.0.0/16"])

    problems = status.problems()

    assert problems[0].startswith("no node daemon was started")
    assert any(p.startswith("Node is not Ready: read ") for p in problems)
    assert any(p.startswith("CoreDNS is not available") for p in problems)
    assert any(p.startswith("the metrics API is not available") for p in problems)
    assert problems[-1] == "left over from an earlier node: route 10.244.0.0/16"
