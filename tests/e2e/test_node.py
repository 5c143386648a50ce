"""A real node runs our scoring image: Service traffic from pods and the host, HPA, self-healing."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import joblib
import pytest
import requests
from cluster_objects import unallocated_cluster_ip
from modelserve_cluster import node as real_node
from modelserve_cluster.node import layout as node_layout
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

ON_REAL_NODE = {"kubernetes.io/hostname": node_layout.NODE_NAME}
_RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
}


def wait_for(condition: Callable[[], Any], what: str, deadline_s: float = 120.0) -> Any:
    """Poll until `condition()` returns something truthy; fail naming `what` otherwise."""
    end = time.monotonic() + deadline_s
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # a probe that errors is just not there yet
            last_error = exc
        time.sleep(1.0)
    raise AssertionError(f"timed out after {deadline_s:.0f}s waiting for {what}: {last_error}")


@pytest.fixture(scope="module")
def iris() -> tuple[bytes, list[list[float]], list[int]]:
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    rows = X[::25].tolist()
    return buffer.getvalue(), rows, model.predict(X[::25]).tolist()


@pytest.fixture(scope="module")
def iris_service(kube, scoring_image: str, iris) -> str:
    """A two-replica scoring Deployment behind a Service; returns the Service's ClusterIP."""
    artifact, _, _ = iris
    labels = {"app": "iris"}
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "iris-model"},
            "binaryData": {"model.joblib": base64.b64encode(artifact).decode()},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "iris"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeSelector": ON_REAL_NODE,
                        "containers": [
                            {
                                "name": "scoring",
                                "image": scoring_image,
                                "imagePullPolicy": "Never",
                                "env": [
                                    {"name": "MODELSERVE_MODEL_DIR", "value": "/models"},
                                    {"name": "MODELSERVE_MODEL_NAME", "value": "iris"},
                                    # A ConfigMap volume also holds a hidden ..<timestamp>/
                                    # copy of each key, so the file is named explicitly.
                                    {
                                        "name": "MODELSERVE_ARTIFACT_PATH",
                                        "value": "/models/model.joblib",
                                    },
                                    {
                                        "name": "MODELSERVE_ARTIFACT_SHA256",
                                        "value": hashlib.sha256(artifact).hexdigest(),
                                    },
                                ],
                                "ports": [{"containerPort": 8080, "name": "http"}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/v2/health/ready", "port": 8080},
                                    "periodSeconds": 2,
                                },
                                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                                # Keep serving until kube-proxy has dropped the endpoint:
                                # without it a deleted pod refuses calls for a second or two.
                                "lifecycle": {"preStop": {"sleep": {"seconds": 10}}},
                                "volumeMounts": [{"name": "model", "mountPath": "/models"}],
                                "securityContext": _RESTRICTED,
                            }
                        ],
                        "volumes": [{"name": "model", "configMap": {"name": "iris-model"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "iris"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": "http"}]},
        },
    )
    wait_for(
        lambda: kube.get("deployment", "iris")["status"].get("readyReplicas") == 2,
        "2 ready scoring pods",
        deadline_s=240,
    )
    return kube.get("service", "iris")["spec"]["clusterIP"]


def _score(cluster_ip: str, rows: list[list[float]]) -> list[int]:
    response = requests.post(f"http://{cluster_ip}/score", json={"data": rows}, timeout=5)
    response.raise_for_status()
    return response.json()


def test_prediction_through_service_from_host(iris_service: str, iris) -> None:
    _, rows, expected = iris
    assert _score(iris_service, rows) == expected


def test_prediction_through_service_name_from_another_pod(
    kube, scoring_image: str, iris_service: str, iris
) -> None:
    _, rows, expected = iris
    # The client resolves the Service by name (cluster DNS) and reports through its
    # termination message, so the assertion needs nothing but the API.
    client = (
        "import json, urllib.request\n"
        f"body = json.dumps({{'data': {rows!r}}}).encode()\n"
        "req = urllib.request.Request(\n"
        f"    'http://iris.{kube.namespace}.svc.cluster.local/score', data=body,\n"
        "    headers={'Content-Type': 'application/json'})\n"
        "answer = urllib.request.urlopen(req, timeout=10).read().decode()\n"
        "open('/dev/termination-log', 'w').write(answer)\n"
    )
    terminated = _run_client_pod(kube, scoring_image, "iris-client", client)
    assert terminated["exitCode"] == 0, f"client failed: {terminated}"
    assert json.loads(terminated["message"]) == expected


def _run_client_pod(
    kube, image: str, name: str, code: str, service_account: str | None = None
) -> dict:
    """Run `code` in a pod on the real node; return its container's terminated state."""
    spec: dict[str, Any] = {
        "nodeSelector": ON_REAL_NODE,
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "client",
                "image": image,
                "imagePullPolicy": "Never",
                "command": ["python3", "-c", code],
                "securityContext": _RESTRICTED,
            }
        ],
    }
    if service_account:
        spec["serviceAccountName"] = service_account
    kube.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})

    def finished() -> dict | None:
        pod = kube.get("pod", name)
        statuses = pod["status"].get("containerStatuses") or [{}]
        return statuses[0].get("state", {}).get("terminated")

    return wait_for(finished, f"pod {name} to finish", deadline_s=180)


def test_pods_reach_the_api_server_at_the_kubernetes_service(kube, scoring_image: str) -> None:
    # What an operator running in a pod does: in-cluster config, i.e. the ServiceAccount
    # token and CA, and https://kubernetes.default.svc (cluster DNS, then the ClusterIP).
    kube.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "lister"}})
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "pod-lister"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        }
    )
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "lister-lists-pods"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pod-lister",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "lister"}],
        }
    )
    client = (
        "import json, ssl, urllib.request\n"
        "sa = '/var/run/secrets/kubernetes.io/serviceaccount/'\n"
        "ctx = ssl.create_default_context(cafile=sa + 'ca.crt')\n"
        "token = open(sa + 'token').read()\n"
        f"url = 'https://kubernetes.default.svc/api/v1/namespaces/{kube.namespace}/pods'\n"
        "req = urllib.request.Request(url, headers={'Authorization': 'Bearer ' + token})\n"
        "pods = json.load(urllib.request.urlopen(req, context=ctx, timeout=10))\n"
        "names = [p['metadata']['name'] for p in pods['items']]\n"
        "open('/dev/termination-log', 'w').write(json.dumps(names))\n"
    )
    terminated = _run_client_pod(kube, scoring_image, "api-client", client, "lister")
    assert terminated["exitCode"] == 0, f"client failed: {terminated}"
    assert "api-client" in json.loads(terminated["message"])


def test_a_pods_call_to_a_cluster_ip_without_a_rule_is_refused(
    cluster, kube, scoring_image: str
) -> None:
    # Refused on the node, not sent off the machine by the default route to be answered
    # by whatever lies beyond it.
    address = unallocated_cluster_ip(cluster)
    client = (
        "import socket\n"
        "probe = socket.socket()\n"
        "probe.settimeout(10)\n"
        f"try: probe.connect(({address!r}, 80)); outcome = 'connected'\n"
        "except OSError as exc: outcome = type(exc).__name__\n"
        "open('/dev/termination-log', 'w').write(outcome)\n"
    )
    terminated = _run_client_pod(kube, scoring_image, "stray-client", client)
    assert terminated["exitCode"] == 0, f"client failed: {terminated}"
    assert terminated["message"] == "ConnectionRefusedError"


def test_killed_pod_is_replaced_and_service_keeps_answering(kube, iris_service: str, iris) -> None:
    _, rows, expected = iris
    before = {p["metadata"]["name"] for p in kube.get("pods", "-l", "app=iris")["items"]}
    victim = sorted(before)[0]
    outcomes: list[bool] = []
    stop = threading.Event()

    def keep_scoring() -> None:
        while not stop.is_set():
            try:
                outcomes.append(_score(iris_service, rows) == expected)
            except requests.RequestException:
                outcomes.append(False)
            time.sleep(0.05)

    load = threading.Thread(target=keep_scoring, daemon=True)
    load.start()
    try:
        kube.run("delete", "pod", victim, "--wait=false")

        def replaced() -> bool:
            pods = kube.get("pods", "-l", "app=iris")["items"]
            ready = {
                p["metadata"]["name"]
                for p in pods
                if not p["metadata"].get("deletionTimestamp")
                and any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in p["status"].get("conditions", [])
                )
            }
            return victim not in ready and len(ready) == 2 and bool(ready - before)

        wait_for(replaced, "a Ready replacement for the deleted pod", deadline_s=180)
        calls_when_replaced = len(outcomes)
        wait_for(lambda: len(outcomes) >= calls_when_replaced + 20, "20 more calls", 60)
    finally:
        stop.set()
        load.join(timeout=10)
    failures = outcomes.count(False)
    assert len(outcomes) > 20
    assert failures == 0, f"{failures} of {len(outcomes)} calls failed while the pod was replaced"


def test_hpa_reports_cpu_and_scales_a_cpu_burner_up(kube, scoring_image: str) -> None:
    labels = {"app": "burner"}
    # The busy loops burn CPU until deleted: left running they would slow every later test.
    try:
        kube.apply(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "burner"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "nodeSelector": ON_REAL_NODE,
                            "containers": [
                                {
                                    "name": "burn",
                                    "image": scoring_image,
                                    "imagePullPolicy": "Never",
                                    "command": ["python3", "-c", "while True: pass"],
                                    # 100m requested, up to 200m used: 200 % of the request.
                                    "resources": {
                                        "requests": {"cpu": "100m", "memory": "32Mi"},
                                        "limits": {"cpu": "200m", "memory": "64Mi"},
                                    },
                                    "securityContext": _RESTRICTED,
                                }
                            ],
                        },
                    },
                },
            },
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "burner"},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "burner",
                    },
                    "minReplicas": 1,
                    "maxReplicas": 3,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 50},
                            },
                        }
                    ],
                },
            },
        )

        def current_cpu() -> int | None:
            metrics = kube.get("hpa", "burner").get("status", {}).get("currentMetrics") or []
            for metric in metrics:
                value = metric.get("resource", {}).get("current", {}).get("averageUtilization")
                if value is not None:
                    return value
            return None

        utilization = wait_for(current_cpu, "the HPA to report current CPU", deadline_s=240)
        assert utilization > 50, (
            f"a busy loop should use more than half its request: {utilization}%"
        )
        wait_for(
            lambda: (kube.get("deployment", "burner")["status"].get("readyReplicas") or 0) >= 2,
            "the HPA to scale the burner to at least 2 ready replicas",
            deadline_s=240,
        )
    finally:
        kube.run("delete", "hpa/burner", "deployment/burner", "--ignore-not-found", "--wait=false")


def test_down_leaves_nothing_behind_and_up_comes_back(node, app_images) -> None:
    left = real_node.down()
    assert left == [], "down left things behind:\n" + "\n".join(left)
    assert not real_node.status().any_running
    # The node is shared by the whole session: later tests need it back.
    assert real_node.up(app_images=tuple(app_images.values())).healthy
