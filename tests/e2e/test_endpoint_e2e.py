"""The operator on the real node: an OnlineEndpoint's router in front of real scoring pods.

One endpoint in one namespace serves every test of this module (pods are costly on two
cores); each test applies the whole spec it needs, so it depends on no other test's state.
"""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import joblib
import pytest
import requests
import yaml
from cluster_objects import condition
from e2e_target import NODE_NAME
from endpoint_traffic import EndpointClient, SteadyLoad
from modelserve_api.constants import ROUTER_GRPC_PORT
from modelserve_client.artifacts import configmap_registration
from namespace_site import NamespaceSite
from polling import wait_for
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from tritonclient.grpc import service_pb2, service_pb2_grpc

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

ENDPOINT = "iris"
MODEL_NAME = "iris"
# Scoring pods verify, load and warm a model up; on a busy two-core machine that is slow.
POD_START_S = 300.0
# Small requests: every pod of the run shares the node's two cores, and the HPA target
# is a share of this request, so real load exceeds it at once.
SMALL_RESOURCES = {"requests": {"cpu": "50m", "memory": "192Mi"}}
NOT_A_PICKLE = b"these bytes are no joblib or pickle stream; loading them must fail\n" * 4
# Version 4 is version 1 as an older scikit-learn would have pickled it, served under
# libraryVersionPolicy strict.
OLD_SKLEARN = "1.4.2"
STRICT_VERSION = "4"


@dataclass(frozen=True)
class TrainedModels:
    """Two versions that disagree on some rows, and the artifacts registered for them."""

    rows: list[list[float]]
    by_version: dict[str, Any]
    artifacts: dict[str, bytes]

    def expected(self, version: str) -> list[int]:
        return self.by_version[version].predict(self.rows).tolist()


@pytest.fixture(scope="module")
def models() -> TrainedModels:
    x, y = load_iris(return_X_y=True)
    v1 = LogisticRegression(max_iter=1000).fit(x, y)
    # A one-split tree cannot tell two of the three species apart: unlike v1 on some rows.
    v2 = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x, y)
    rows = x[::10].tolist()
    assert v1.predict(rows).tolist() != v2.predict(rows).tolist(), "versions must differ"
    artifacts = {"1": _dump(v1), "2": _dump(v2), "3": NOT_A_PICKLE, "4": _dump_as_old_sklearn(v1)}
    return TrainedModels(rows, {"1": v1, "2": v2}, artifacts)


def _dump(estimator: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return buffer.getvalue()


def _dump_as_old_sklearn(estimator: LogisticRegression) -> bytes:
    """The estimator pickled with OLD_SKLEARN recorded as the version that saved it."""
    own_getstate = LogisticRegression.__getstate__

    def saved_by_old_sklearn(self: LogisticRegression) -> dict:
        return {**own_getstate(self), "_sklearn_version": OLD_SKLEARN}

    # The pickle names the class by reference: the server unpickles a LogisticRegression
    # whose state says OLD_SKLEARN, and scikit-learn warns as it does for a real old file.
    LogisticRegression.__getstate__ = saved_by_old_sklearn
    try:
        return _dump(estimator)
    finally:
        LogisticRegression.__getstate__ = own_getstate


ROUTER_SELECTOR = f"app.kubernetes.io/component=router,modelserve.io/endpoint={ENDPOINT}"


class Site(NamespaceSite):
    """The namespace the operator watches: apply an endpoint, read it, call it."""

    def pods(self, selector: str) -> list[dict]:
        return json.loads(self.kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]

    def register_model(self, version: str, artifact: bytes) -> None:
        """Model iris-<version> and its ConfigMap, as `modelserve model register` makes them."""
        config_map, model = configmap_registration(artifact, MODEL_NAME, version)
        model["spec"]["libraryVersionPolicy"] = "strict" if version == STRICT_VERSION else "warn"
        self.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all([config_map, model]))

    def apply_endpoint(
        self,
        deployments: dict[str, dict],
        traffic: dict[str, int],
        mirror: dict[str, int] | None = None,
        router: dict[str, Any] | None = None,
    ) -> None:
        spec: dict[str, Any] = {
            "authMode": "key",
            "traffic": traffic,
            "deployments": [{"name": name, **body} for name, body in deployments.items()],
        }
        if mirror:
            spec["mirrorTraffic"] = mirror
        if router:
            spec["router"] = router
        endpoint = {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "OnlineEndpoint",
            "metadata": {"name": ENDPOINT},
            "spec": spec,
        }
        self.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(endpoint))

    def endpoint(self) -> dict | None:
        return self.get("onlineendpoint", ENDPOINT)

    def wait_endpoint(self, check: Callable[[dict], bool], what: str, timeout: float) -> dict:
        """Poll the endpoint until its status (of the current generation) satisfies `check`."""

        def current() -> dict | None:
            obj = self.endpoint()
            if obj is None:
                return None
            fresh = obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"]
            return obj if fresh and check(obj) else None

        try:
            return wait_for(current, what, timeout)
        except BaseException:
            print("endpoint status:", json.dumps((self.endpoint() or {}).get("status"), indent=1))
            print(self.kubectl("get", "deploy,pods,hpa", "-o", "wide", check=False).stdout)
            raise

    def wait_ready(self, timeout: float = POD_START_S, routers: int = 1) -> dict:
        """Ready, then only `routers` router pods left: a replaced one may answer for ~10 s."""
        endpoint = self.wait_endpoint(
            lambda e: condition(e, "Ready").get("status") == "True",
            f"endpoint {ENDPOINT} Ready",
            timeout,
        )
        wait_for(
            lambda: len(self.pods(ROUTER_SELECTOR)) == routers,
            "the replaced router pods to be gone",
            timeout=120,
        )
        # Ready follows the router pods; the Service's address forwards a moment later, on
        # any cluster: the EndpointSlice is updated, then kube-proxy syncs its rules. Until
        # then a call is refused (seen under CI's load), so the tests call once it connects.
        wait_for(self._service_connects, f"the {ENDPOINT} Service to accept calls", timeout=60)
        return endpoint

    def _service_connects(self) -> bool:
        service = self.get("service", ENDPOINT) or {}
        try:
            with socket.create_connection((service["spec"]["clusterIP"], 80), timeout=5):
                return True
        except OSError:
            return False

    def client(self) -> EndpointClient:
        service = self.get("service", ENDPOINT)
        secret = self.get("secret", f"{ENDPOINT}-keys")
        assert service and secret, "the endpoint's router Service and keys Secret must exist"
        key = base64.b64decode(secret["data"]["primaryKey"]).decode()
        return EndpointClient(service["spec"]["clusterIP"], key, MODEL_NAME)

    def scoring_requests(self, deployment: str) -> float:
        """modelserve_requests_total summed over routes and statuses, from the pods' metrics."""
        service = self.get("service", f"{ENDPOINT}-{deployment}")
        assert service, f"no Service for deployment {deployment}"
        port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "metrics")
        text = requests.get(f"http://{service['spec']['clusterIP']}:{port}/metrics", timeout=5).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "modelserve_requests_total"
        )


@pytest.fixture(scope="module")
def site(cluster, node, operator_factory, models: TrainedModels) -> Iterator[Site]:
    """A namespace with the operator (pods pinned to the real node) and three Model versions."""
    namespace = f"endpoint-e2e-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    monkeypatch = pytest.MonkeyPatch()
    operator = operator_factory(
        namespace, monkeypatch, {"MODELSERVE_NODE_SELECTOR": f"kubernetes.io/hostname={NODE_NAME}"}
    )
    site = Site(cluster, namespace)
    try:
        # Pods are refused until the namespace's default ServiceAccount exists.
        wait_for(
            lambda: site.get("serviceaccount", "default"), "the default ServiceAccount", timeout=60
        )
        operator.start()
        for version, artifact in models.artifacts.items():
            site.register_model(version, artifact)
        for version in models.artifacts:
            # Version 3 is Ready too: its digest is right, only loading it will fail.
            wait_for(
                lambda v=version: (
                    condition(site.get("model", f"{MODEL_NAME}-{v}"), "Ready").get("status")
                    == "True"
                ),
                f"Model {MODEL_NAME}-{version} Ready",
                timeout=120,
            )
        yield site
    finally:
        operator.delete_objects_and_stop()
        monkeypatch.undo()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")


def deployment(version: str, **extra: Any) -> dict:
    """One endpoint deployment of model `iris` at `version`, with one small pod by default."""
    body: dict[str, Any] = {
        "model": {"name": MODEL_NAME, "version": version},
        "resources": SMALL_RESOURCES,
    }
    if "autoscale" not in extra:
        body["instanceCount"] = 1
    return {**body, **extra}


def test_predictions_through_the_router_equal_model_predict(site: Site, models: TrainedModels):
    site.apply_endpoint({"blue": deployment("1")}, {"blue": 100})
    endpoint = site.wait_ready()
    assert endpoint["status"]["traffic"] == {"blue": 100}

    response = site.client().score(models.rows)

    assert response.status_code == 200, response.text
    assert response.json() == models.expected("1")
    assert response.headers["x-modelserve-deployment"] == "blue"
    # The operator-wide node selector put every pod it made on the real node.
    pods = site.pods(f"modelserve.io/endpoint={ENDPOINT}")
    assert pods and {p["spec"]["nodeName"] for p in pods} == {NODE_NAME}


def test_key_auth_refuses_calls_without_a_valid_key(site: Site, models: TrainedModels):
    site.apply_endpoint({"blue": deployment("1")}, {"blue": 100})
    site.wait_ready()
    client = site.client()
    secret = site.get("secret", f"{ENDPOINT}-keys")
    secondary = base64.b64decode(secret["data"]["secondaryKey"]).decode()

    without_key = client.score(models.rows, headers={})
    wrong_key = client.score(models.rows, headers=client.headers(key="not-the-key"))
    with_primary = client.score(models.rows)
    with_secondary = client.score(models.rows, headers=client.headers(key=secondary))

    assert without_key.status_code == 401
    assert "Authorization: Bearer" in without_key.json()["error"]
    assert without_key.headers["WWW-Authenticate"].startswith("Bearer")
    assert wrong_key.status_code == 401
    assert with_primary.status_code == 200, with_primary.text
    assert with_secondary.status_code == 200, with_secondary.text
    assert with_primary.json() == with_secondary.json() == models.expected("1")


def test_traffic_split_90_10_over_2000_requests(site: Site, models: TrainedModels):
    site.apply_endpoint(
        {"blue": deployment("1"), "green": deployment("1")}, {"blue": 90, "green": 10}
    )
    endpoint = site.wait_ready()
    assert endpoint["status"]["traffic"] == {"blue": 90, "green": 10}
    client = site.client()
    # Both deployments answer on their own first, so the split below is the router's doing.
    for name in ("blue", "green"):
        pinned = client.score(models.rows[:1], headers=client.headers(pin=name))
        assert pinned.status_code == 200, pinned.text
        assert pinned.headers["x-modelserve-deployment"] == name

    with SteadyLoad(
        lambda s: client.score(models.rows[:1], session=s),
        workers=4,
        max_requests=2000,
        max_seconds=300,
    ) as load:
        wait_for(lambda: load.snapshot().sent >= 2000, "2000 requests sent", timeout=310)
    report = load.stop()

    assert report.failures == []
    assert sum(report.served_by.values()) == 2000
    assert set(report.served_by) == {"blue", "green"}
    green_share = 100 * report.served_by["green"] / 2000
    print(f"90/10 split measured over 2000 requests: green {green_share:.1f} %")
    assert 7 <= green_share <= 13, f"green got {green_share:.1f} % ({report.served_by})"


def test_grpc_through_the_router_splits_pins_and_checks_the_key(site: Site, models: TrainedModels):
    site.apply_endpoint(
        {"blue": deployment("1"), "green": deployment("2")}, {"blue": 50, "green": 50}
    )
    site.wait_ready()
    client = site.client()
    key = (("authorization", f"Bearer {client.key}"),)
    request = service_pb2.ModelInferRequest(model_name=MODEL_NAME)
    tensor = request.inputs.add(name="input-0", datatype="FP64", shape=[len(models.rows), 4])
    tensor.contents.fp64_contents.extend(v for row in models.rows for v in row)

    with grpc.insecure_channel(f"{client.cluster_ip}:{ROUTER_GRPC_PORT}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)

        def infer(metadata: tuple) -> tuple[str, str, list[int]]:
            response, rpc = stub.ModelInfer.with_call(request, metadata=metadata, timeout=10)
            served = dict(rpc.initial_metadata())["x-modelserve-deployment"]
            return served, response.model_version, list(response.outputs[0].contents.int64_contents)

        split = [infer(key) for _ in range(200)]
        pinned = [infer((*key, ("x-modelserve-deployment", "green"))) for _ in range(10)]
        with pytest.raises(grpc.RpcError) as without_key:
            stub.ModelInfer(request, timeout=10)

    served = {name: sum(1 for s, _, _ in split if s == name) for name in ("blue", "green")}
    print(f"gRPC 50/50 split through the router over 200 calls: {served}")
    assert sum(served.values()) == 200 and min(served.values()) >= 60, served
    version_of = {"blue": "1", "green": "2"}
    for name, version, labels in split + pinned:
        assert version == version_of[name]
        assert labels == models.expected(version)
    assert {name for name, _, _ in pinned} == {"green"}
    assert without_key.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_mirrored_requests_reach_the_mirror_but_answers_come_from_live(
    site: Site, models: TrainedModels
):
    site.apply_endpoint(
        {"blue": deployment("1"), "green": deployment("1")},
        {"blue": 100, "green": 0},
        mirror={"green": 50},
    )
    endpoint = site.wait_ready()
    assert endpoint["status"]["mirrorTraffic"] == {"green": 50}
    client = site.client()
    mirror_before = site.scoring_requests("green")

    with SteadyLoad(
        lambda s: client.score(models.rows[:1], session=s),
        workers=2,
        max_requests=200,
        max_seconds=120,
    ) as load:
        wait_for(lambda: load.snapshot().sent >= 200, "200 requests sent", timeout=130)
    report = load.stop()

    assert report.failures == []
    assert report.served_by == {"blue": 200}
    # Copies are sent after the answer, so the mirror's count catches up a little later.
    mirrored = wait_for(
        lambda: (n := site.scoring_requests("green") - mirror_before) >= 60 and n,
        "the mirror deployment to receive about half of 200 requests",
        timeout=60,
    )
    print(f"mirror received {mirrored:.0f} of 200 requests at mirrorTraffic 50")
    assert mirrored <= 200


def test_model_that_fails_to_load_degrades_endpoint_and_traffic_stays(
    site: Site, models: TrainedModels
):
    site.apply_endpoint({"blue": deployment("1")}, {"blue": 100})
    site.wait_ready()
    # green's artifact passes the digest check but is not a model: its server cannot load it.
    site.apply_endpoint(
        {"blue": deployment("1"), "green": deployment("3")}, {"blue": 0, "green": 100}
    )
    degraded = site.wait_endpoint(
        lambda e: condition(e, "Degraded").get("status") == "True",
        "endpoint Degraded by green's failing pod",
        timeout=POD_START_S,
    )
    message = (
        condition(degraded, "Degraded").get("message") or condition(degraded, "Ready")["message"]
    )
    print(f"Degraded message: {message}")
    assert "deployment green" in message
    assert f"pod {ENDPOINT}-green-" in message
    assert any(reason in message for reason in ("CrashLoopBackOff", "Error")), message
    assert degraded["status"]["traffic"] == {"blue": 100}

    client = site.client()
    with SteadyLoad(
        lambda s: client.score(models.rows, session=s), workers=2, max_requests=100
    ) as load:
        wait_for(lambda: load.snapshot().sent >= 100, "100 requests sent", timeout=120)
    report = load.stop()
    assert report.failures == []
    assert report.served_by == {"blue": 100}


def test_a_model_saved_by_another_scikit_learn_is_refused_under_strict_and_named(
    site: Site, models: TrainedModels
):
    site.apply_endpoint({"blue": deployment("1")}, {"blue": 100})
    site.wait_ready()
    site.apply_endpoint(
        {"blue": deployment("1"), "green": deployment(STRICT_VERSION)}, {"blue": 100, "green": 0}
    )
    name = f"{MODEL_NAME}-{STRICT_VERSION}"
    refused = wait_for(
        lambda: (
            model
            if condition(model := site.get("model", name) or {}, "Degraded").get("status") == "True"
            else None
        ),
        f"Model {name} Degraded by its refusing pod",
        timeout=POD_START_S,
    )
    degraded = condition(refused, "Degraded")
    print(f"Degraded: {degraded}")
    assert degraded["reason"] == "LibraryVersionMismatch"
    # both versions named: the one the file was saved with, and the image's
    assert f"saved with scikit-learn {OLD_SKLEARN}" in degraded["message"]
    assert re.search(r"this image has \d+\.\d+", degraded["message"]), degraded["message"]
    assert condition(refused, "Ready").get("status") == "False"
    # blue keeps every call meanwhile
    assert site.client().score(models.rows).json() == models.expected("1")


def test_model_version_change_under_load_fails_no_request(site: Site, models: TrainedModels):
    site.apply_endpoint({"blue": deployment("1")}, {"blue": 100})
    site.wait_ready()
    client = site.client()

    with SteadyLoad(
        lambda s: client.infer(models.rows, session=s), workers=2, max_seconds=480
    ) as load:
        wait_for(lambda: load.snapshot().versions["1"] >= 20, "version 1 answering", timeout=60)
        site.apply_endpoint({"blue": deployment("2")}, {"blue": 100})
        site.wait_endpoint(
            lambda e: (
                e["status"]["deployments"][0]["modelVersion"] == "2"
                and condition(e, "Ready").get("status") == "True"
            ),
            "blue rolled out to version 2",
            timeout=POD_START_S,
        )
        # Until the last version-1 pod is gone it may still answer; then only version 2 does.
        wait_for(
            lambda: not site.pods("modelserve.io/deployment=blue,modelserve.io/model-version=1"),
            "the version-1 pod to be gone",
            timeout=240,
        )
        settled = load.snapshot().versions
        wait_for(
            lambda: load.snapshot().versions["2"] >= settled["2"] + 20, "version 2 answering", 60
        )
    report = load.stop()

    assert report.failures == [], f"{len(report.failures)} of {report.sent} failed"
    assert report.versions["1"] > 0 and report.versions["2"] > 0
    assert report.versions["1"] == settled["1"], "version 1 answered after its pod was gone"
    print(f"version change under load: {report.sent} requests, versions {dict(report.versions)}")
    answer = client.score(models.rows)
    assert answer.json() == models.expected("2")


def test_router_replaced_three_times_under_keep_alive_load_fails_no_request(
    site: Site, models: TrainedModels
):
    # Each new split is a new router configuration, so a new router pod replaces the old
    # one. The clients keep their connections alive, as HTTP clients do: the old router
    # must hand them over to the new one without a refused, reset or failed call.
    site.apply_endpoint(
        {"blue": deployment("1"), "green": deployment("1")}, {"blue": 100, "green": 0}
    )
    site.wait_ready()
    client = site.client()
    router_selector = ROUTER_SELECTOR
    routers_seen = {p["metadata"]["name"] for p in site.pods(router_selector)}

    with SteadyLoad(
        lambda s: client.score(models.rows[:1], session=s), workers=2, max_seconds=600
    ) as load:
        wait_for(lambda: load.snapshot().sent >= 20, "the load to start", timeout=60)
        for split in (
            {"blue": 0, "green": 100},
            {"blue": 50, "green": 50},
            {"blue": 100, "green": 0},
        ):
            site.apply_endpoint({"blue": deployment("1"), "green": deployment("1")}, split)
            site.wait_endpoint(
                # status.traffic lists only the deployments that take a share.
                lambda e, split=split: (
                    e["status"].get("traffic")
                    == {name: share for name, share in split.items() if share}
                ),
                f"the router to serve {split}",
                timeout=POD_START_S,
            )
            site.wait_endpoint(
                lambda e: condition(e, "Ready").get("status") == "True",
                f"endpoint {ENDPOINT} Ready with {split}",
                timeout=POD_START_S,
            )
            ready_at = time.monotonic()
            # Ready means callers get the new split: the old router pod, which answers its
            # open connections with the old one, has exited (its object may linger a moment
            # in a terminal phase before the kubelet deletes it).
            routers = {
                p["metadata"]["name"]
                for p in site.pods(router_selector)
                if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            }
            phases = {
                p["metadata"]["name"]: p.get("status", {}).get("phase")
                for p in site.pods(router_selector)
            }
            assert len(routers) == 1, f"Ready with {split} while routers {phases} run"
            routers_seen |= routers
            sent = load.snapshot().sent
            wait_for(
                lambda sent=sent: load.snapshot().sent >= sent + 20, "calls after the roll", 60
            )
            after_ready = load.served_since(ready_at)
            stale = {name: n for name, n in after_ready.items() if not split.get(name)}
            assert not stale, f"calls sent after Ready with {split} were answered by {stale}"
    report = load.stop()

    print(
        f"router replaced {len(routers_seen) - 1} times under load: {report.sent} calls, "
        f"served by {dict(report.served_by)}"
    )
    assert len(routers_seen) == 4, routers_seen
    assert report.failures == [], (
        f"{len(report.failures)} of {report.sent} failed: {report.failures[:3]}"
    )
    assert report.served_by["blue"] > 0 and report.served_by["green"] > 0


def test_with_two_routers_a_deleted_router_pod_fails_no_request(site: Site, models: TrainedModels):
    # One router pod is the endpoint's whole front door. With spec.router.replicas 2 the
    # Service goes on sending to the other while the deleted one drains and a new one starts.
    site.apply_endpoint({"blue": deployment("1")}, {"blue": 100}, router={"replicas": 2})
    site.wait_ready(routers=2)
    budget = site.get("poddisruptionbudget", ENDPOINT)
    assert budget and budget["spec"]["maxUnavailable"] == 1, budget
    client = site.client()
    before = {p["metadata"]["name"] for p in site.pods(ROUTER_SELECTOR)}

    with SteadyLoad(
        lambda s: client.score(models.rows[:1], session=s), workers=2, max_seconds=300
    ) as load:
        wait_for(lambda: load.snapshot().sent >= 20, "the load to start", timeout=60)
        victim = sorted(before)[0]
        site.kubectl("delete", "pod", victim, "--wait=false")

        def replaced() -> bool:
            ready = {
                p["metadata"]["name"]
                for p in site.pods(ROUTER_SELECTOR)
                if not p["metadata"].get("deletionTimestamp")
                and condition(p, "Ready").get("status") == "True"
            }
            return len(ready) == 2 and victim not in ready

        wait_for(replaced, "a new router pod Ready in place of the deleted one", POD_START_S)
        wait_for(lambda: victim not in names(site.pods(ROUTER_SELECTOR)), "it to be gone", 120)
        sent = load.snapshot().sent
        wait_for(lambda: load.snapshot().sent >= sent + 20, "calls after the replacement", 60)
    report = load.stop()

    print(f"a router pod of two deleted under load: {report.sent} calls")
    assert report.failures == [], (
        f"{len(report.failures)} of {report.sent} failed: {report.failures[:3]}"
    )
    assert report.served_by["blue"] == report.sent


def names(objects: list[dict]) -> set[str]:
    return {o["metadata"]["name"] for o in objects}


def test_hpa_scales_the_deployment_up_under_load(site: Site, models: TrainedModels):
    autoscale = {
        "minReplicas": 1,
        "maxReplicas": 3,
        "targetCPUUtilizationPercentage": 50,
        # An HPA keeps a scale-up for 5 minutes by default; the idle start below needs none.
        "scaleDownStabilizationSeconds": 0,
    }
    # A deployment of its own: its pod has served nothing before this test.
    site.apply_endpoint({"auto": deployment("1", autoscale=autoscale)}, {"auto": 100})
    site.wait_ready()
    client = site.client()

    def idle_at_one_replica() -> bool:
        hpa = site.get("hpa", f"{ENDPOINT}-auto") or {}
        status = hpa.get("status", {})
        utilization = [
            m["resource"]["current"].get("averageUtilization")
            for m in status.get("currentMetrics") or []
            if m.get("type") == "Resource"
        ]
        return (
            status.get("desiredReplicas") == 1
            and bool(utilization)
            and utilization[0] is not None
            and utilization[0] < autoscale["targetCPUUtilizationPercentage"]
        )

    # Start from a measured idle state, so the scale-up below is the load's doing
    # (a new pod has no metrics at first, and its start-up may have scaled it already).
    try:
        wait_for(idle_at_one_replica, "the HPA to measure an idle single replica", timeout=240)
    except BaseException:
        print("HPA:", json.dumps((site.get("hpa", f"{ENDPOINT}-auto") or {}).get("status")))
        raise

    def scaled_up() -> int:
        hpa = site.get("hpa", f"{ENDPOINT}-auto") or {}
        desired = hpa.get("status", {}).get("desiredReplicas", 0)
        replicas = site.endpoint()["status"]["deployments"][0]["replicas"]
        return max(desired, replicas) if max(desired, replicas) > 1 else 0

    with SteadyLoad(
        lambda s: client.score(models.rows, session=s), workers=4, max_seconds=420
    ) as load:
        replicas = wait_for(scaled_up, "the HPA to ask for more than one replica", timeout=400)
    report = load.stop()

    print(f"HPA scaled auto to {replicas} replicas after {report.sent} requests")
    assert 1 < replicas <= 3
    assert report.failures == [], f"{len(report.failures)} of {report.sent} failed"
