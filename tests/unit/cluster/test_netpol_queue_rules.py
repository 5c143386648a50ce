"""The queue rules that send new pod connections to the NetworkPolicy agent on kind."""

from __future__ import annotations

from modelserve_cluster.addons import NETPOL_QUEUE, policy_queue_rules


def test_new_pod_connections_both_ways_go_to_the_agents_queue_unless_root_on_the_host():
    rules = policy_queue_rules("10.250.0.0/16")
    assert [rule[1:3] for rule in rules] == [["-s", "10.250.0.0/16"], ["-d", "10.250.0.0/16"]]
    for rule in rules:
        text = " ".join(rule)
        assert rule[0] == "POSTROUTING"  # after kube-proxy's DNAT: the real destination pod
        assert "--ctstate NEW" in text  # one verdict per connection, not per packet
        assert "! --uid-owner 0" in text
        assert f"-j NFQUEUE --queue-num {NETPOL_QUEUE} --queue-bypass" in text
