"""The operator's MODELSERVE_* settings: read alike from the process and from a mapping."""

from __future__ import annotations

from dataclasses import replace

import pytest
from modelserve_operator.settings import OperatorSettings

ENVIRONMENT = {
    "MODELSERVE_WATCH_NAMESPACES": "team-a, team-b",
    "MODELSERVE_NODE_SELECTOR": "pool=real,zone=a",
    "MODELSERVE_METRICS_FROM": '[{"namespaceSelector": {}}]',
    "MODELSERVE_API_SERVER_CIDRS": "10.0.0.1/32",
    "MODELSERVE_NETWORK_POLICIES": "False",
    "MODELSERVE_MAX_WORKERS": "4",
    "MODELSERVE_IMAGE_PULL_POLICY": "Never",
}


def test_the_process_environment_reads_as_the_same_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    from_process = OperatorSettings.from_env()
    from_mapping = OperatorSettings.from_env(ENVIRONMENT)
    # The election identity is made unique per read, on purpose.
    assert replace(from_process, leader_election=from_mapping.leader_election) == from_mapping
    assert from_process.watch_namespaces == ("team-a", "team-b")
    assert from_process.builder.node_selector == (("pool", "real"), ("zone", "a"))
    assert from_process.builder.network.metrics_from == ({"namespaceSelector": {}},)
    assert not from_process.builder.network.enabled
    assert from_process.max_workers == 4


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MODELSERVE_OPERATOR_METRICS_PORT", "99999"),
        ("MODELSERVE_MAX_WORKERS", "0"),
        ("MODELSERVE_RESYNC_SECONDS", "soon"),
        ("MODELSERVE_IMAGE_PULL_POLICY", "Sometimes"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        OperatorSettings.from_env({name: value})
