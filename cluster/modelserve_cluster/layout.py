"""The address ranges of kwokctl clusters (cluster/kwokctl/kwokctl.yaml gives them the same)."""

from __future__ import annotations

SERVICE_CIDR = "10.0.0.0/16"
# KWOK hands simulated pods addresses from here; nothing answers them (see unreachable.py).
POD_CIDR = "10.244.0.0/16"
# Simulated nodes' addresses; like POD_CIDR, nothing answers them.
FAKE_NODE_CIDR = "10.245.0.0/16"
# The simulated nodes the tests schedule on (kwok-node.yaml.tmpl, applied by hack/kwokctl.sh).
FAKE_NODE_NAMES = ("kwok-node-0", "kwok-node-1")
