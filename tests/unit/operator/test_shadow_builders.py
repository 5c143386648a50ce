"""The shadow collector's children, and the scoring pods' pointer to it."""

from __future__ import annotations

from typing import Any

from modelserve_api import constants as c
from modelserve_api import parse_online_endpoint
from modelserve_operator.builders import BuilderSettings
from modelserve_operator.builders.common import NetworkPolicySettings
from modelserve_operator.builders.shadow import (
    build_shadow_collector_deployment,
    build_shadow_collector_network_policy,
    build_shadow_collector_service,
    shadow_collector_url,
    wants_shadow_collector,
)


def endpoint(gates: list[dict[str, Any]] | None) -> Any:
    spec: dict[str, Any] = {
        "traffic": {"blue": 100},
        "deployments": [{"name": "blue", "model": {"name": "iris", "version": "1"}}],
    }
    if gates is not None:
        spec["rollout"] = {"strategy": "blueGreen", "gates": gates}
    return parse_online_endpoint(
        {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "OnlineEndpoint",
            "metadata": {"name": "fraud", "namespace": "ml", "uid": "u"},
            "spec": spec,
        }
    )


def test_only_an_agreement_gate_asks_for_a_collector():
    assert wants_shadow_collector(endpoint([{"metric": "agreement", "min": 0.99}]))
    assert not wants_shadow_collector(endpoint([{"metric": "successRate", "min": 0.99}]))
    assert not wants_shadow_collector(endpoint(None))


def test_the_collector_is_one_replaced_pod_of_the_scoring_image_behind_a_service():
    shadowed = endpoint([{"metric": "agreement", "min": 0.99}])
    settings = BuilderSettings(scoring_image="scoring:test")

    deployment = build_shadow_collector_deployment(shadowed, settings)
    service = build_shadow_collector_service(shadowed)

    assert deployment["metadata"]["name"] == service["metadata"]["name"] == "fraud-shadow"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "scoring:test"
    assert container["args"][0] == "collect"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert shadow_collector_url(shadowed) == (
        f"http://fraud-shadow.ml.svc.cluster.local:{c.SHADOW_COLLECTOR_PORT}"
    )


def test_only_the_endpoints_scoring_pods_router_and_api_server_reach_the_collector():
    shadowed = endpoint([{"metric": "agreement", "min": 0.99}])
    policy = build_shadow_collector_network_policy(
        shadowed, NetworkPolicySettings(api_server_cidrs=("10.0.0.1/32",))
    )

    (rule,) = policy["spec"]["ingress"]
    components = [p["podSelector"]["matchLabels"][c.LABEL_COMPONENT] for p in rule["from"][:2]]
    assert components == [c.COMPONENT_SCORING, c.COMPONENT_ROUTER]
    assert {"ipBlock": {"cidr": "10.0.0.1/32"}} in rule["from"]
    assert rule["ports"] == [{"protocol": "TCP", "port": c.SHADOW_COLLECTOR_PORT}]
