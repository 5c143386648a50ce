"""NetworkPolicies enforced on the real node: the router (and its key) is the only way in.

The node runs kube-network-policies (cluster/netpol-agent); the operator makes the
policies. A pod in another namespace tries every door of an endpoint: its scoring pods'
Service and pod address are shut, the router answers 401 without the key and 200 with
it, and only a pod labelled as Prometheus may read the scoring pods' metrics.

Calls are made from client pods, never from the host: the node lets root-owned host
traffic (the kubelet's probes) through unjudged, as kube-network-policies does.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from e2e_target import NODE_NAME
from iris_objects import (
    DEPLOYMENT,
    ENDPOINT,
    MODEL_NAME,
    MODEL_VERSION,
    iris_endpoint,
    iris_model,
)
from modelserve_api import constants as c
from namespace_site import NamespaceSite
from polling import wait_for

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

# Scoring pods verify, load and warm a model up; on a busy two-core machine that is slow.
POD_START_S = 300.0
# A dropped connection attempt shows as a timeout; an allowed one answers in far less.
REFUSED_AFTER_S = 4
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
PROMETHEUS_LABELS = {"app.kubernetes.io/name": "prometheus"}

# Runs in a client pod: makes each call and reports each outcome as an HTTP status or
# "refused: <error>", as JSON in its termination message.
CLIENT_CODE = """
import json, os, urllib.error, urllib.request
results = {}
for name, call in json.loads(os.environ["CALLS"]).items():
    request = urllib.request.Request(call["url"], data=call.get("body", "").encode() or None,
                                     headers=call.get("headers", {}))
    try:
        with urllib.request.urlopen(request, timeout=float(os.environ["TIMEOUT"])) as answer:
            results[name] = answer.status
    except urllib.error.HTTPError as error:
        results[name] = error.code
    except OSError as error:
        results[name] = "refused: " + type(error).__name__ + ": " + str(error)[:80]
open("/dev/termination-log", "w").write(json.dumps(results))
"""


@dataclass(frozen=True)
class Guarded:
    """A Ready key-auth endpoint, and a namespace of its own for the client pods."""

    site: NamespaceSite
    clients: NamespaceSite
    key: str
    # The client pods' image: the scoring image has Python.
    image: str

    def cluster_ip(self, service: str) -> str:
        return self.site.get("service", service)["spec"]["clusterIP"]

    def scoring_pod_ip(self) -> str:
        selector = f"{c.LABEL_COMPONENT}={c.COMPONENT_SCORING},{c.LABEL_ENDPOINT}={ENDPOINT}"
        pods = json.loads(self.site.kubectl("get", "pods", "-l", selector, "-o", "json").stdout)
        (pod,) = [p for p in pods["items"] if p["status"].get("podIP")]
        return pod["status"]["podIP"]


@pytest.fixture(scope="module")
def guarded(cluster, node, operator_factory, scoring_image: str) -> Iterator[Guarded]:
    suffix = uuid.uuid4().hex[:6]
    namespace, client_namespace = f"netpol-e2e-{suffix}", f"netpol-client-{suffix}"
    for name in (namespace, client_namespace):
        cluster.kubectl("create", "namespace", name)
    monkeypatch = pytest.MonkeyPatch()
    operator = operator_factory(
        namespace, monkeypatch, {"MODELSERVE_NODE_SELECTOR": f"kubernetes.io/hostname={NODE_NAME}"}
    )
    site, clients = NamespaceSite(cluster, namespace), NamespaceSite(cluster, client_namespace)
    try:
        for each in (site, clients):
            wait_for(lambda each=each: each.get("serviceaccount", "default"), "ServiceAccount", 60)
        operator.start()
        site.apply(*iris_model())
        wait_for(lambda: site.ready("model", f"{MODEL_NAME}-{MODEL_VERSION}"), "Model Ready", 120)
        site.apply(iris_endpoint("key"))
        wait_for(lambda: site.ready("onlineendpoint", ENDPOINT), "endpoint Ready", POD_START_S)
        secret = site.get("secret", f"{ENDPOINT}-keys")
        key = base64.b64decode(secret["data"]["primaryKey"]).decode()
        yield Guarded(site, clients, key, scoring_image)
    finally:
        operator.delete_objects_and_stop()
        monkeypatch.undo()
        for name in (namespace, client_namespace):
            cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


def run_client(
    guarded: Guarded,
    name: str,
    calls: dict[str, dict[str, Any]],
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the calls from a pod of the client namespace; each call's status or refusal."""
    clients = guarded.clients
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": NODE_NAME},
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "client",
                    "image": guarded.image,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", CLIENT_CODE],
                    "env": [
                        {"name": "CALLS", "value": json.dumps(calls)},
                        {"name": "TIMEOUT", "value": str(REFUSED_AFTER_S)},
                    ],
                    "securityContext": RESTRICTED,
                }
            ],
        },
    }
    clients.apply(pod)

    def finished() -> dict[str, Any] | None:
        statuses = (clients.get("pod", name) or {}).get("status", {}).get("containerStatuses")
        return (statuses or [{}])[0].get("state", {}).get("terminated")

    terminated = wait_for(finished, f"client pod {name} to finish", 180)
    assert terminated["exitCode"] == 0, f"client pod {name} failed: {terminated}"
    return json.loads(terminated["message"])


def score_call(url: str, key: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return {"url": url, "body": json.dumps({"data": [[5.1, 3.5, 1.4, 0.2]]}), "headers": headers}


def refused(outcome: Any) -> bool:
    return isinstance(outcome, str) and outcome.startswith("refused")


def test_another_namespace_reaches_the_model_only_through_the_router_with_its_key(
    guarded: Guarded,
):
    router = guarded.cluster_ip(ENDPOINT)
    scoring_service = guarded.cluster_ip(f"{ENDPOINT}-{DEPLOYMENT}")
    pod_ip = guarded.scoring_pod_ip()
    outcome = run_client(
        guarded,
        "intruder",
        {
            "router, no key": score_call(f"http://{router}/score"),
            "router, key": score_call(f"http://{router}/score", guarded.key),
            "scoring Service": score_call(f"http://{scoring_service}/score"),
            "scoring pod": score_call(f"http://{pod_ip}:{c.SCORING_HTTP_PORT}/score"),
            "scoring pod metrics": {"url": f"http://{pod_ip}:{c.SCORING_METRICS_PORT}/metrics"},
        },
    )
    assert outcome["router, no key"] == 401, outcome
    assert outcome["router, key"] == 200, outcome
    assert refused(outcome["scoring Service"]), outcome
    assert refused(outcome["scoring pod"]), outcome
    assert refused(outcome["scoring pod metrics"]), outcome


def test_prometheus_scrapes_the_scoring_pods_and_nothing_more(guarded: Guarded):
    pod_ip = guarded.scoring_pod_ip()
    outcome = run_client(
        guarded,
        "prometheus",
        {
            "metrics": {"url": f"http://{pod_ip}:{c.SCORING_METRICS_PORT}/metrics"},
            "scoring pod": score_call(f"http://{pod_ip}:{c.SCORING_HTTP_PORT}/score"),
        },
        labels=PROMETHEUS_LABELS,
    )
    assert outcome["metrics"] == 200, outcome
    assert refused(outcome["scoring pod"]), outcome


def test_allow_from_shuts_the_router_to_namespaces_it_does_not_name(guarded: Guarded):
    site = guarded.site
    only_own_namespace = {"allowFrom": [{"podSelector": {}}]}
    site.apply(iris_endpoint("key", only_own_namespace))
    try:

        def router_policy_narrowed() -> bool:
            policy = site.get("networkpolicy", f"{ENDPOINT}-router") or {}
            return policy.get("spec", {}).get("ingress", [{}])[0].get("from") == [
                {"podSelector": {}}
            ]

        wait_for(router_policy_narrowed, "the router's policy to follow allowFrom", 60)
        router = guarded.cluster_ip(ENDPOINT)
        outcome = run_client(
            guarded,
            "outsider",
            {"router, key": score_call(f"http://{router}/score", guarded.key)},
        )
        assert refused(outcome["router, key"]), outcome
    finally:
        site.apply(iris_endpoint("key"))
