"""Router Deployment, Service, ConfigMap, keys Secret and disruption budget; owner references."""

import base64

import pytest
from modelserve_api.common import SpecError
from modelserve_operator.builders import (
    BuilderSettings,
    build_keys_secret,
    build_router_configmap,
    build_router_deployment,
    build_router_pdb,
    build_router_service,
    owner_reference,
    router_config_hash,
    scoring_uri,
    with_owner,
)


def test_router_deployment_mounts_config_and_keys(make_endpoint):
    endpoint = make_endpoint()
    manifest = build_router_deployment(endpoint, "abc123", BuilderSettings())
    assert manifest["metadata"]["name"] == "fraud"
    pod = manifest["spec"]["template"]["spec"]
    (router,) = pod["containers"]
    assert router["image"] == "modelserve/router:dev"
    mounts = {m["mountPath"]: m["name"] for m in router["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    config = volumes[mounts["/etc/nginx/modelserve"]]["configMap"]
    assert config["name"] == "fraud-router"
    assert config["items"] == [{"key": "nginx.conf", "path": "nginx.conf"}]
    keys = volumes[mounts["/etc/modelserve/keys"]]["secret"]
    assert keys["secretName"] == "fraud-keys"
    assert keys["items"][0]["path"] == "nginx-keys.conf"
    assert router["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert router["ports"][0]["containerPort"] == 8080


def test_router_is_hardened(make_endpoint):
    pod = build_router_deployment(make_endpoint(), "h", BuilderSettings())["spec"]["template"][
        "spec"
    ]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    sc = pod["containers"][0]["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"] == {"drop": ["ALL"]}


def test_the_router_may_stop_within_its_slowest_backends_request_and_no_later(make_endpoint):
    endpoint = make_endpoint(
        traffic={"blue": 50, "green": 50},
        deployments=[
            {"name": "blue", "model": {"name": "iris", "version": "1"}},
            {
                "name": "green",
                "model": {"name": "iris", "version": "2"},
                "requestSettings": {"requestTimeoutMs": 30000},
            },
        ],
    )
    pod = build_router_deployment(endpoint, "h", BuilderSettings())["spec"]["template"]["spec"]
    # preStop 10 s, then the router's own timeout (the slowest backend's 30 s + 1 s), then 5 s
    assert pod["terminationGracePeriodSeconds"] == 10 + 31 + 5


def test_one_router_pod_by_default_with_the_template_it_always_had(make_endpoint):
    manifest = build_router_deployment(make_endpoint(), "h", BuilderSettings())
    assert manifest["spec"]["replicas"] == 1
    # No new field in a single router's template: an operator upgrade rolls no router.
    assert "topologySpreadConstraints" not in manifest["spec"]["template"]["spec"]


def test_several_router_pods_are_spread_over_nodes_where_there_are_several(make_endpoint):
    manifest = build_router_deployment(
        make_endpoint(router={"replicas": 3}), "h", BuilderSettings()
    )
    assert manifest["spec"]["replicas"] == 3
    (spread,) = manifest["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    # A one-node cluster still runs all three rather than leaving two Pending.
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["labelSelector"] == manifest["spec"]["selector"]


def test_the_router_disruption_budget_lets_one_router_pod_go_at_a_time(make_endpoint):
    endpoint = make_endpoint(router={"replicas": 2})
    pdb = build_router_pdb(endpoint)
    router = build_router_deployment(endpoint, "h", BuilderSettings())
    assert pdb["kind"] == "PodDisruptionBudget" and pdb["metadata"]["name"] == "fraud"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"] == router["spec"]["selector"]
    selected = pdb["spec"]["selector"]["matchLabels"].items()
    assert selected <= router["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("replicas", [0, 11])
def test_router_replicas_out_of_range_are_refused(make_endpoint, replicas):
    with pytest.raises(SpecError, match=r"spec\.router\.replicas"):
        make_endpoint(router={"replicas": replicas})


def test_config_change_rolls_the_router(make_endpoint):
    endpoint = make_endpoint()
    before = router_config_hash("upstream a {}", "map x")
    after = router_config_hash("upstream b {}", "map x")
    new_key = router_config_hash("upstream a {}", "map y")
    assert len({before, after, new_key}) == 3
    assert router_config_hash("upstream a {}", "map x") == before
    one = build_router_deployment(endpoint, before, BuilderSettings())
    two = build_router_deployment(endpoint, after, BuilderSettings())
    annotations = two["spec"]["template"]["metadata"]["annotations"]
    assert annotations["modelserve.io/router-config-hash"] == after
    assert one["spec"]["template"] != two["spec"]["template"]


def test_router_service_http_80_to_8080_and_grpc_8081(make_endpoint):
    service = build_router_service(make_endpoint())
    assert service["metadata"]["name"] == "fraud"
    http, grpc = service["spec"]["ports"]
    assert (http["port"], http["targetPort"]) == (80, "http")
    assert (grpc["name"], grpc["port"], grpc["targetPort"]) == ("grpc", 8081, 8081)
    assert grpc["appProtocol"] == "kubernetes.io/h2c"
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "router"


def test_configmap_carries_rendered_text(make_endpoint):
    cm = build_router_configmap(make_endpoint(), "events {}\n")
    assert cm["metadata"]["name"] == "fraud-router"
    assert cm["data"] == {"nginx.conf": "events {}\n"}


def test_keys_secret(make_endpoint):
    secret = build_keys_secret(make_endpoint(), "k1", "k2", 'map $x $y { "k1" 1; }')
    assert secret["metadata"]["name"] == "fraud-keys"
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {
        "primaryKey": "k1",
        "secondaryKey": "k2",
        "nginx-keys.conf": 'map $x $y { "k1" 1; }',
    }
    with pytest.raises(ValueError, match="non-empty"):
        build_keys_secret(make_endpoint(), "", "k2", "")


def test_scoring_uri(make_endpoint):
    assert scoring_uri(make_endpoint()) == "http://fraud.ml.svc.cluster.local/score"


def test_owner_reference_makes_the_endpoint_controller(make_endpoint, raw_endpoint):
    owner = owner_reference(raw_endpoint())
    assert owner == {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "name": "fraud",
        "uid": "oe-uid",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    owned = with_owner(build_router_service(make_endpoint()), owner)
    assert owned["metadata"]["ownerReferences"] == [owner]


def test_owner_reference_without_uid_is_refused(raw_endpoint):
    body = raw_endpoint()
    del body["metadata"]["uid"]
    with pytest.raises(ValueError, match="uid"):
        owner_reference(body)
