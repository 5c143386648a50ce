"""The node's NetworkPolicy queue rules and its check that the agent listens."""

from __future__ import annotations

from modelserve_cluster.node import layout as L
from modelserve_cluster.node.netfilter import policy_queue_rules, queue_listener_bound


def test_new_pod_connections_both_ways_go_to_the_agents_queue_unless_root_on_the_host():
    rules = policy_queue_rules("10.246.0.0/24")
    assert [rule[1:3] for rule in rules] == [["-s", "10.246.0.0/24"], ["-d", "10.246.0.0/24"]]
    for rule in rules:
        text = " ".join(rule)
        assert rule[0] == "POSTROUTING"  # after kube-proxy's DNAT: the real destination pod
        assert "--ctstate NEW" in text  # one verdict per connection, not per packet
        assert "! --uid-owner 0" in text
        assert f"-j NFQUEUE --queue-num {L.NETPOL_QUEUE} --queue-bypass" in text
        assert L.RULE_COMMENT in rule  # so `down` and `leftovers` find it


def test_the_agent_is_ready_once_its_queue_has_a_listener(tmp_path):
    status = tmp_path / "nfnetlink_queue"
    status.write_text("  101  12345     0 2   128     0     0        0  1\n")
    assert not queue_listener_bound(100, status)
    status.write_text(status.read_text() + "  100  23456     0 2   128     0     0       17  1\n")
    assert queue_listener_bound(100, status)
    assert not queue_listener_bound(100, tmp_path / "missing")
