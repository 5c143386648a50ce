"""The kwokctl cluster behaves like a real one: workloads run, the API validates, routes hold."""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import subprocess
import uuid

import pytest
import yaml
from cluster_objects import unallocated_cluster_ip
from kubernetes import client
from modelserve_cluster import unreachable
from modelserve_cluster.layout import FAKE_NODE_NAMES, POD_CIDR

pytestmark = pytest.mark.cluster


def _get(cluster, kind: str, name: str, namespace: str) -> dict:
    return json.loads(cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)


def _apply(cluster, manifest: dict, *extra: str, check: bool = True):
    return cluster.kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        *extra,
        input_text=yaml.safe_dump(manifest),
        check=check,
    )


def _pod_template(labels: dict, restart_policy: str = "Always", annotations=None) -> dict:
    return {
        "metadata": {"labels": labels, "annotations": annotations or {}},
        "spec": {
            "restartPolicy": restart_policy,
            # Only the simulated nodes: a real node (layer 2) may be joined to the cluster.
            "nodeSelector": {"type": "kwok"},
            "containers": [{"name": "main", "image": "registry.invalid/never-pulled:1"}],
        },
    }


def test_deployment_becomes_available_on_kwok_nodes(cluster, namespace):
    labels = {"app": "web"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": _pod_template(labels),
        },
    }
    _apply(cluster, deployment)

    apps = client.AppsV1Api(cluster.api_client())

    def available_status():
        status = apps.read_namespaced_deployment_status("web", namespace).status
        return status if status.available_replicas == 3 else None

    status = cluster.wait_for(available_status, "3 available replicas")
    assert status.ready_replicas == 3
    pods = json.loads(
        cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "json").stdout
    )["items"]
    assert len(pods) == 3
    for pod in pods:
        # Scheduled by the real scheduler onto a simulated node, made Running by KWOK,
        # and owned by a ReplicaSet the deployment controller created.
        assert pod["spec"]["nodeName"] in FAKE_NODE_NAMES
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"


def test_a_simulated_pod_is_unreachable_and_nothing_else_answers_for_it(cluster, namespace):
    # The pod proxy (what the operator reads a scoring pod's metadata through) must fail
    # with "no route to host", as for a vanished pod on a real cluster, instead of reaching
    # whatever lies beyond this machine's default route.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ghost", "namespace": namespace},
        "spec": {
            "nodeSelector": {"type": "kwok"},
            "containers": [
                {
                    "name": "main",
                    "image": "registry.invalid/never-pulled:1",
                    "ports": [{"containerPort": 8080}],
                }
            ],
        },
    }
    _apply(cluster, pod)
    pod_ip = cluster.wait_for(
        lambda: _get(cluster, "pod", "ghost", namespace).get("status", {}).get("podIP"),
        "the simulated pod's address",
    )
    assert ipaddress.ip_address(pod_ip) in ipaddress.ip_network(POD_CIDR)

    with socket.socket() as probe, pytest.raises(OSError) as refused:
        probe.settimeout(10)
        probe.connect((pod_ip, 8080))
    assert refused.value.errno == errno.EHOSTUNREACH

    path = f"/api/v1/namespaces/{namespace}/pods/ghost:8080/proxy/v2/models"
    answer = cluster.kubectl("get", "--raw", path, check=False)
    assert answer.returncode != 0
    assert "no route to host" in answer.stderr, answer.stderr


def test_a_cluster_ip_without_a_rule_is_refused_on_this_machine(cluster):
    # Without kube-proxy's DNAT (no node here, or an unallocated address) a ClusterIP
    # leads nowhere: the call is refused here instead of leaving by the default route.
    address = unallocated_cluster_ip(cluster)
    with socket.socket() as probe, pytest.raises(OSError) as refused:
        probe.settimeout(10)
        probe.connect((address, 80))
    assert refused.value.errno == errno.ECONNREFUSED, refused.value


def test_unreachable_routes_stay_while_any_cluster_holds_them(tmp_path, monkeypatch):
    # Two clusters share the addresses: the first `down` must not take away the routes
    # and the rule the other still relies on. Spare networks stand in for the real ones.
    spare_pods, spare_services = "10.249.0.0/16", "10.248.0.0/16"
    monkeypatch.setattr(unreachable, "SIMULATED_NETWORKS", (spare_pods,))
    monkeypatch.setattr(unreachable, "SERVICE_CIDR", spare_services)
    monkeypatch.setattr(unreachable, "HOLDERS_DIR", tmp_path / "holders")
    rule = unreachable.service_rule()
    assert spare_services in rule
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    try:
        unreachable.hold(first)
        unreachable.hold(second)
        unreachable.release(first)
        assert unreachable.present(spare_pods), "the second cluster still holds the route"
        assert unreachable.rule_present(rule), "the second cluster still holds the rule"
        unreachable.hold(first)
        second.rmdir()  # a cluster whose state was deleted without `down` holds nothing
        unreachable.release(first)
        assert not unreachable.present(spare_pods), "the last holder removes the route"
        assert not unreachable.rule_present(rule), "the last holder removes the rule"
    finally:
        subprocess.run(["ip", "route", "del", "unreachable", spare_pods], check=False)
        subprocess.run(["iptables", "-D", *rule], check=False)


def _job(name: str, namespace: str, annotations=None, **spec) -> dict:
    labels = {"job": name}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": _pod_template(labels, "Never", annotations),
            **spec,
        },
    }


def _job_condition(cluster, name: str, namespace: str) -> str | None:
    conditions = _get(cluster, "job", name, namespace).get("status", {}).get("conditions", [])
    return next(
        (
            c["type"]
            for c in conditions
            if c["type"] in ("Complete", "Failed") and c["status"] == "True"
        ),
        None,
    )


def test_simulated_nodes_keep_their_leases_renewed(cluster):
    # The node-lifecycle controller watches these leases: a node whose lease goes stale is
    # marked Unknown and every pod on it NotReady, which would flap endpoints in tests.
    def leases() -> dict[str, dict]:
        items = json.loads(
            cluster.kubectl("get", "leases", "-n", "kube-node-lease", "-o", "json").stdout
        )["items"]
        return {
            lease["metadata"]["name"]: lease["spec"]
            for lease in items
            if lease["metadata"]["name"] in FAKE_NODE_NAMES
        }

    def renew_times(specs: dict[str, dict]) -> dict[str, str]:
        return {name: spec.get("renewTime", "") for name, spec in specs.items()}

    first = cluster.wait_for(
        lambda: (specs := leases()) and set(specs) == set(FAKE_NODE_NAMES) and specs,
        "a lease for every simulated node",
    )
    # KWOK renews every quarter of the lease's duration; the wait allows the whole duration
    # twice over, for a CI machine busy enough to starve KWOK and the API server a while.
    duration = max(spec["leaseDurationSeconds"] for spec in first.values())
    renewed = renew_times(first)
    cluster.wait_for(
        lambda: all(renew_times(leases())[n] != renewed[n] for n in FAKE_NODE_NAMES),
        "every simulated node's lease to be renewed",
        timeout=2 * duration,
    )


def test_job_completes(cluster, namespace):
    _apply(cluster, _job("batch", namespace, completions=2, parallelism=2))

    assert (
        cluster.wait_for(lambda: _job_condition(cluster, "batch", namespace), "the Job to finish")
        == "Complete"
    )
    assert _get(cluster, "job", "batch", namespace)["status"]["succeeded"] == 2


def test_job_pods_can_be_told_to_fail(cluster, namespace):
    failing = _job(
        "doomed", namespace, annotations={"kwok.modelserve.io/outcome": "Failed"}, backoffLimit=0
    )
    _apply(cluster, failing)

    assert (
        cluster.wait_for(lambda: _job_condition(cluster, "doomed", namespace), "the Job to finish")
        == "Failed"
    )


@pytest.fixture
def widget_crd(cluster):
    """A namespaced CRD with CEL rules, removed after the test."""
    group = f"t{uuid.uuid4().hex[:8]}.modelserve.io"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "minReplicas": {"type": "integer"},
                                        "maxReplicas": {"type": "integer"},
                                    },
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.minReplicas <= self.maxReplicas",
                                            "message": "must be at least minReplicas",
                                            "fieldPath": ".maxReplicas",
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    _apply(cluster, crd)
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/widgets.{group}")
    yield group
    cluster.kubectl("delete", "crd", f"widgets.{group}", "--wait=false")


def test_cel_rule_refuses_bad_object_naming_the_field(cluster, namespace, widget_crd):
    def widget(name: str, low: int, high: int) -> dict:
        return {
            "apiVersion": f"{widget_crd}/v1",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"minReplicas": low, "maxReplicas": high},
        }

    # The CRD's REST mapping can lag its Established condition by a moment in kubectl.
    cluster.wait_for(
        lambda: _apply(cluster, widget("good", 1, 3), check=False).returncode == 0,
        "a valid Widget to be accepted",
    )
    refused = _apply(cluster, widget("bad", 5, 2), check=False)

    assert refused.returncode != 0
    assert "spec.maxReplicas" in refused.stderr
    assert "must be at least minReplicas" in refused.stderr
    missing = cluster.kubectl("get", "widgets." + widget_crd, "bad", "-n", namespace, check=False)
    assert missing.returncode != 0


def test_server_side_apply_tracks_owners_and_conflicts(cluster, namespace):
    def config_map(value: str) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace},
            "data": {"mode": value},
        }

    _apply(cluster, config_map("fast"), "--field-manager=alice")
    conflict = _apply(cluster, config_map("slow"), "--field-manager=bob", check=False)
    assert conflict.returncode != 0
    assert "conflict" in conflict.stderr.lower()
    assert _get(cluster, "configmap", "settings", namespace)["data"]["mode"] == "fast"

    _apply(cluster, config_map("slow"), "--field-manager=bob", "--force-conflicts")
    live = json.loads(
        cluster.kubectl(
            "get", "configmap", "settings", "-n", namespace, "-o", "json", "--show-managed-fields"
        ).stdout
    )
    assert live["data"]["mode"] == "slow"
    owners = {
        entry["manager"]
        for entry in live["metadata"]["managedFields"]
        if "f:mode" in entry.get("fieldsV1", {}).get("f:data", {})
    }
    assert owners == {"bob"}
