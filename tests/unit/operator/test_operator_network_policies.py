"""NetworkPolicy builders: the router is the only way to scoring pods; batch and training pods
take no connection; the policies select pods by labels those already carry."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from modelserve_api import SpecError, parse_batch_deployment, parse_model, parse_online_endpoint
from modelserve_api import constants as c
from modelserve_operator.builders import (
    build_router_deployment,
    build_scoring_deployment,
)
from modelserve_operator.builders.batch import build_run_job
from modelserve_operator.builders.common import BuilderSettings, NetworkPolicySettings
from modelserve_operator.builders.network_policy import (
    build_batch_network_policy,
    build_router_network_policy,
    build_scoring_network_policy,
    build_training_network_policy,
)
from modelserve_operator.builders.training import build_training_job
from modelserve_operator.reconcilers.network_policies import keep_network_policy
from modelserve_operator.settings import OperatorSettings
from operator_bodies import endpoint_body, trained_model

SETTINGS = NetworkPolicySettings()
# The router's two doors: HTTP and v2 gRPC.
ROUTER_PORTS = [
    {"protocol": "TCP", "port": c.ROUTER_PORT},
    {"protocol": "TCP", "port": c.ROUTER_GRPC_PORT},
]


def endpoint(**spec: Any):
    return parse_online_endpoint(endpoint_body(**spec))


def selects(policy: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"]["matchLabels"]
    return all(pod_labels.get(k) == v for k, v in wanted.items())


def template_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def rule_for(policy: dict[str, Any], port: int) -> list[dict[str, Any]]:
    return [r for r in policy["spec"]["ingress"] if {"protocol": "TCP", "port": port} in r["ports"]]


def test_scoring_pods_take_requests_from_their_own_router_only(make_resolved):
    ep = endpoint()
    policy = build_scoring_network_policy(ep, SETTINGS)
    scoring = build_scoring_deployment(
        ep, ep.spec.deployments[0], make_resolved(), BuilderSettings()
    )
    router = build_router_deployment(ep, "h", BuilderSettings())
    assert selects(policy, template_labels(scoring))
    assert not selects(policy, template_labels(router))
    assert policy["spec"]["policyTypes"] == ["Ingress"]  # egress stays open
    (http,) = rule_for(policy, c.SCORING_HTTP_PORT)
    assert rule_for(policy, c.SCORING_GRPC_PORT) == [http]  # gRPC through the router too
    (router_peer,) = http["from"]
    assert set(router_peer) == {"podSelector"}  # same namespace only
    assert selects({"spec": router_peer}, template_labels(router))
    other_router = build_router_deployment(endpoint(), "h", BuilderSettings())
    other_router["spec"]["template"]["metadata"]["labels"][c.LABEL_ENDPOINT] = "another"
    assert not selects({"spec": router_peer}, template_labels(other_router))


def test_a_deployment_added_later_is_covered_by_the_same_policy(make_resolved):
    ep = endpoint(
        traffic={"blue": 100},
        deployments=[
            {"name": "blue", "model": {"name": "iris", "version": "1"}},
            {"name": "green", "model": {"name": "iris", "version": "1"}},
        ],
    )
    policy = build_scoring_network_policy(ep, SETTINGS)
    for deployment in ep.spec.deployments:
        pod = build_scoring_deployment(ep, deployment, make_resolved(), BuilderSettings())
        assert selects(policy, template_labels(pod))


def test_metrics_port_is_open_to_the_named_scrapers_only():
    policy = build_scoring_network_policy(endpoint(), SETTINGS)
    (metrics,) = rule_for(policy, c.SCORING_METRICS_PORT)
    assert metrics["from"] == [
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    mine = ({"namespaceSelector": {"matchLabels": {"team": "obs"}}},)
    policy = build_scoring_network_policy(endpoint(), NetworkPolicySettings(metrics_from=mine))
    assert rule_for(policy, c.SCORING_METRICS_PORT)[0]["from"] == list(mine)


def test_no_scraper_named_means_no_metrics_rule_not_an_open_one():
    policy = build_scoring_network_policy(endpoint(), NetworkPolicySettings(metrics_from=()))
    assert rule_for(policy, c.SCORING_METRICS_PORT) == []
    assert all(rule.get("from") for rule in policy["spec"]["ingress"])


def test_api_server_cidrs_may_reach_the_scoring_port_for_the_pod_proxy():
    settings = NetworkPolicySettings(api_server_cidrs=("10.0.0.0/28",))
    (http,) = rule_for(build_scoring_network_policy(endpoint(), settings), c.SCORING_HTTP_PORT)
    assert {"ipBlock": {"cidr": "10.0.0.0/28"}} in http["from"]


def test_router_takes_clients_from_anywhere_unless_allow_from_is_set():
    ep = endpoint()
    policy = build_router_network_policy(ep)
    router = build_router_deployment(ep, "h", BuilderSettings())
    assert selects(policy, template_labels(router))
    assert policy["spec"]["ingress"] == [{"ports": ROUTER_PORTS}]


def test_router_takes_clients_from_the_peers_allow_from_names():
    peers = [
        {"namespaceSelector": {"matchLabels": {"team": "fraud"}}},
        {
            "namespaceSelector": {},
            "podSelector": {
                "matchExpressions": [{"key": "role", "operator": "In", "values": ["api"]}]
            },
        },
        {"podSelector": {}},
    ]
    policy = build_router_network_policy(endpoint(network={"allowFrom": peers}))
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == peers
    assert rule["ports"] == ROUTER_PORTS


def test_an_empty_allow_from_admits_no_one():
    policy = build_router_network_policy(endpoint(network={"allowFrom": []}))
    assert policy["spec"]["ingress"] == []
    assert policy["spec"]["policyTypes"] == ["Ingress"]


def test_a_peer_without_any_selector_is_refused():
    with pytest.raises(SpecError):
        # An empty peer would read as "everyone" to a NetworkPolicy: say what was meant.
        endpoint(network={"allowFrom": [{}]})


def test_endpoint_policies_are_named_after_the_endpoint():
    names = {
        build_scoring_network_policy(endpoint(), SETTINGS)["metadata"]["name"],
        build_router_network_policy(endpoint())["metadata"]["name"],
    }
    assert names == {"fraud-scoring", "fraud-router"}


def batch_body() -> dict[str, Any]:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "BatchDeployment",
        "metadata": {"name": "nightly", "namespace": "ml", "uid": "bd-uid", "generation": 1},
        "spec": {
            "model": {"name": "iris", "version": "1"},
            "input": {"claimName": "raw", "glob": "in/*.csv"},
            "output": {"claimName": "scored", "path": "out"},
        },
    }


def test_batch_pods_accept_no_connection(make_resolved):
    batch = parse_batch_deployment(batch_body())
    policy = build_batch_network_policy(batch)
    job = build_run_job(batch, make_resolved(), "nightly-r1234567", BuilderSettings())
    assert selects(policy, template_labels(job))
    assert policy["spec"]["ingress"] == []
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["metadata"]["name"] == "nightly-batch"


def test_training_pods_accept_no_connection_and_the_model_owns_the_policy():
    model = parse_model(trained_model())
    policy = build_training_network_policy(model)
    job = build_training_job(model, BuilderSettings())
    assert selects(policy, template_labels(job))
    assert policy["spec"]["ingress"] == []
    assert [ref["uid"] for ref in policy["metadata"]["ownerReferences"]] == ["m-uid"]


def test_network_settings_change_no_pod_template(make_resolved):
    # Turning policies on or off must not roll a single scoring or router pod.
    ep = endpoint()
    on = BuilderSettings()
    off = dataclasses.replace(on, network=NetworkPolicySettings(enabled=False, metrics_from=()))
    deployment, model = ep.spec.deployments[0], make_resolved()
    assert build_scoring_deployment(ep, deployment, model, on) == build_scoring_deployment(
        ep, deployment, model, off
    )
    assert build_router_deployment(ep, "h", on) == build_router_deployment(ep, "h", off)


def test_settings_from_the_environment():
    default = OperatorSettings.from_env({}).builder.network
    assert default == NetworkPolicySettings()
    network = OperatorSettings.from_env(
        {
            "MODELSERVE_NETWORK_POLICIES": "false",
            "MODELSERVE_METRICS_FROM": '[{"namespaceSelector": {}}]',
            "MODELSERVE_API_SERVER_CIDRS": "10.0.0.1/32, 10.0.0.2/32",
        }
    ).builder.network
    assert network == NetworkPolicySettings(
        enabled=False,
        metrics_from=({"namespaceSelector": {}},),
        api_server_cidrs=("10.0.0.1/32", "10.0.0.2/32"),
    )
    assert OperatorSettings.from_env({"MODELSERVE_METRICS_FROM": "[]"}).builder.network == (
        NetworkPolicySettings(metrics_from=())
    )


@pytest.mark.parametrize(
    "env",
    [
        {"MODELSERVE_NETWORK_POLICIES": "yes"},
        {"MODELSERVE_METRICS_FROM": '{"namespaceSelector": {}}'},
        {"MODELSERVE_METRICS_FROM": "[{}]"},
    ],
)
def test_bad_network_settings_are_refused(env):
    with pytest.raises(ValueError):
        OperatorSettings.from_env(env)


class FakeKube:
    """Records apply/delete calls; `live` is what get() answers."""

    def __init__(self, live: dict[str, Any] | None = None) -> None:
        self.live = live
        self.calls: list[tuple[str, str]] = []

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("apply", manifest["metadata"]["name"]))
        return manifest

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict | None:
        return self.live

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        self.calls.append(("delete", name))
        return True


def test_opting_out_deletes_our_policy_and_leaves_anyone_elses():
    policy = build_batch_network_policy(parse_batch_deployment(batch_body()))
    ours = {**policy, "metadata": {**policy["metadata"], "ownerReferences": [{"uid": "bd-uid"}]}}
    off = NetworkPolicySettings(enabled=False)
    kube = FakeKube(live=ours)
    keep_network_policy(kube, off, policy, "bd-uid")  # type: ignore[arg-type]
    assert kube.calls == [("delete", "nightly-batch")]
    kube = FakeKube(live=policy)  # same name, someone else's
    keep_network_policy(kube, off, policy, "bd-uid")  # type: ignore[arg-type]
    assert kube.calls == []
    kube = FakeKube()
    keep_network_policy(kube, NetworkPolicySettings(), policy, "bd-uid")  # type: ignore[arg-type]
    assert kube.calls == [("apply", "nightly-batch")]
