"""Progressive rollouts on the real node: rolled back on latency or disagreement, not on
garbage, resumed.

One endpoint `iris` in one namespace serves every test (pods are costly on two cores).
Deployment `blue` (the built-in runtime) is stable; each test commits a new target with
`spec.rollout` the way a GitOps tool does: server-side apply under one field manager,
re-applied every few seconds while the rollout runs. A steady client calls the endpoint
throughout each test and no call may fail; an independent probe records who answered.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import joblib
import pytest
import requests
import yaml
from cluster_objects import condition, configmap_model
from e2e_target import NODE_NAME
from endpoint_traffic import SERVED_HEADER, EndpointClient, SteadyLoad
from iris_objects import SMALL_RESOURCES, iris_endpoint, iris_model
from modelserve_api import constants as c
from namespace_site import NamespaceSite
from operator_pods import OPERATOR_CONTAINER, NodeRuntime
from polling import wait_for
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from walkthrough_module import walkthrough

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

ENDPOINT = "iris"
POD_START_S = 300.0
FIELD_MANAGER = "gitops-writer"
# Short analyses and few calls keep the file's run time modest; 5 s is the API's minimum.
INTERVAL_S = 5
MIN_CALLS = 10
SLEEP_S = 0.3
LATENCY_GATE_MS = 150
# Rollback measurements: each one is a candidate pod started and rolled back.
ROLLBACK_RUNS = 3
SLOW_SCRIPT = f'''"""iris, answered {SLEEP_S} s late: a candidate the p99 gate must refuse."""

import glob
import json
import os
import time

import joblib
import numpy as np

model = None


def init() -> None:
    global model
    (path,) = glob.glob(os.path.join(os.environ["MODELSERVE_MODEL_DIR"], "*.joblib"))
    model = joblib.load(path)


def run(raw_data: str) -> list:
    time.sleep({SLEEP_S})
    rows = np.asarray(json.loads(raw_data)["data"], dtype=np.float64)
    return model.predict(rows).tolist()
'''


class Site(NamespaceSite):
    """The namespace the operator watches; endpoint manifests go in by server-side apply."""

    def commit(self, endpoint: dict, check: bool = True) -> subprocess.CompletedProcess[str]:
        """What a GitOps tool does with the manifest in Git: apply it as its own field manager."""
        return self.kubectl(
            "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--force-conflicts",
            "-f", "-", input_text=yaml.safe_dump(endpoint), check=check,
        )  # fmt: skip

    def endpoint(self) -> dict:
        result = self.kubectl(
            "get", "onlineendpoint", ENDPOINT, "-o", "json", "--show-managed-fields", check=False
        )
        assert result.returncode == 0, f"endpoint iris: {result.stderr}"
        return json.loads(result.stdout)

    def wait_endpoint(self, check: Callable[[dict], Any], what: str, timeout: float) -> dict:
        try:
            return wait_for(lambda: (e := self.endpoint()) and check(e) and e, what, timeout, 0.5)
        except BaseException:
            self.dump()
            raise

    def events(self, reason: str) -> list[dict]:
        items = json.loads(
            self.kubectl(
                "get", "events", "--field-selector",
                f"involvedObject.name={ENDPOINT},reason={reason}", "-o", "json",
            ).stdout
        )["items"]  # fmt: skip
        return items

    def client(self) -> EndpointClient:
        service = self.get("service", ENDPOINT)
        assert service, "no router Service"
        return EndpointClient(service["spec"]["clusterIP"], None, "iris")

    def dump(self) -> None:
        endpoint = self.get("onlineendpoint", ENDPOINT) or {}
        print(json.dumps(endpoint.get("status"), indent=1))
        print(self.kubectl("get", "deploy,pods", "-o", "wide", check=False).stdout)
        print(self.kubectl("get", "events", "--sort-by=.lastTimestamp", check=False).stdout[-3000:])


@pytest.fixture(scope="module")
def site(cluster, node, operator_factory) -> Iterator[Site]:
    """A namespace, the operator in-process (pods pinned to the real node), iris 1 and the
    slow script's ConfigMap."""
    namespace = f"rollout-e2e-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    monkeypatch = pytest.MonkeyPatch()
    env = {"MODELSERVE_NODE_SELECTOR": f"kubernetes.io/hostname={NODE_NAME}"}
    operator = operator_factory(namespace, monkeypatch, env)
    site = Site(cluster, namespace)
    try:
        wait_for(lambda: site.get("serviceaccount", "default"), "default ServiceAccount", 60)
        operator.start()
        script = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "slow-score"},
            "data": {"score.py": SLOW_SCRIPT},
        }
        site.apply(*iris_model(), script)
        wait_for(
            lambda: condition(site.get("model", "iris-1"), "Ready").get("status") == "True",
            "Model iris-1 Ready",
            120,
        )
        yield site
    finally:
        operator.delete_objects_and_stop()
        monkeypatch.undo()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")


def deployment(name: str, script: bool = False, version: str = "1", replicas: int = 1) -> dict:
    body: dict[str, Any] = {
        "name": name,
        "model": {"name": "iris", "version": version},
        "instanceCount": replicas,
        "resources": SMALL_RESOURCES,
    }
    if script:
        body["scoringScript"] = {"configMap": "slow-score", "key": "score.py"}
    return body


def manifest(deployments: list[dict], traffic: dict[str, int], rollout: dict | None) -> dict:
    """Endpoint iris (no auth) with these deployments, split and rollout policy."""
    endpoint = iris_endpoint("none")
    endpoint["spec"].update(traffic=traffic, deployments=deployments)
    if rollout:
        endpoint["spec"]["rollout"] = rollout
    return endpoint


def canary(steps: list[int], gates: list[dict], tolerated: int = 0) -> dict:
    return {
        "strategy": "canary",
        "steps": steps,
        "intervalSeconds": INTERVAL_S,
        "minCalls": MIN_CALLS,
        "gates": gates,
        "failedChecksTolerated": tolerated,
    }


def wait_blue_alone(site: Site, what: str) -> None:
    """Until the committed spec is observed and blue alone serves, Ready."""
    site.wait_endpoint(
        lambda e: (
            e.get("status", {}).get("observedGeneration") == e["metadata"]["generation"]
            and e["status"].get("traffic") == {"blue": 100}
            and [d["name"] for d in e["status"].get("deployments", [])] == ["blue"]
            and condition(e, "Ready").get("status") == "True"
        ),
        what,
        POD_START_S,
    )
    # Ready follows the router pods; kube-proxy programs a new Service's ClusterIP on its
    # own schedule, and until it does a connection is refused. The steady clients start
    # once the ClusterIP answers; from then on no call may fail.
    client = site.client()

    def answers() -> bool:
        try:
            return client.score(ROWS[:1]).status_code == 200
        except requests.RequestException:
            return False

    wait_for(answers, "the router Service's ClusterIP answering", 60, 0.2)


def serve_blue_only(site: Site) -> None:
    """Blue alone takes all the traffic, whatever an earlier test left."""
    site.commit(manifest([deployment("blue")], {"blue": 100}, None))
    wait_blue_alone(site, "blue alone serving")
    wait_for(
        lambda: (
            len(
                json.loads(
                    site.kubectl(
                        "get", "pods", "-l", "app.kubernetes.io/component=router", "-o", "json"
                    ).stdout
                )["items"]
            )
            == 1
        ),
        "one router pod",
        120,
    )


ROWS = load_iris(return_X_y=True)[0][::10].tolist()


def steady_score(client: EndpointClient) -> Callable[[requests.Session], requests.Response]:
    def call(session: requests.Session) -> requests.Response:
        time.sleep(0.02)
        return client.score(ROWS[:3], session=session)

    return call


class GitOpsWriter:
    """A second writer re-applying the same manifest every few seconds, as Argo CD's self-heal."""

    def __init__(self, site: Site, endpoint: dict, every_s: float = 3.0) -> None:
        self.site, self.endpoint, self.every_s = site, endpoint, every_s
        self.applies = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> GitOpsWriter:
        self.site.commit(self.endpoint)
        self.applies = 1
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=130)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            result = self.site.commit(self.endpoint, check=False)
            if result.returncode == 0:
                self.applies += 1
            else:
                self.errors.append(result.stderr)


def rollout_of(endpoint: dict) -> dict:
    return endpoint.get("status", {}).get("rollout") or {}


def assert_spec_only_ours(endpoint: dict, target: dict) -> None:
    """The spec says what the writer committed, and no one else owns a field of it."""
    assert endpoint["spec"]["traffic"] == target["spec"]["traffic"]
    owners = {
        entry["manager"]
        for entry in endpoint["metadata"]["managedFields"]
        if "f:spec" in entry.get("fieldsV1", {})
    }
    assert owners == {FIELD_MANAGER}, endpoint["metadata"]["managedFields"]


def parse_time(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def roll_back_slow_candidate(site: Site, client: EndpointClient) -> dict[str, float]:
    """Commit the slow candidate; return how long after the rollback callers still met it."""
    serve_blue_only(site)
    target = manifest(
        [deployment("blue"), deployment("slow", script=True)],
        {"slow": 100},
        canary([50, 100], [{"metric": "latencyP99", "maxMs": LATENCY_GATE_MS}]),
    )
    probe: list[tuple[float, str]] = []  # (wall time sent, who answered): the callers' view

    def probe_call(session: requests.Session) -> requests.Response:
        sent = time.time()
        response = client.score(ROWS[:1], session=session)
        if response.status_code == 200:
            probe.append((sent, response.headers.get(SERVED_HEADER, "")))
        return response

    with (
        SteadyLoad(steady_score(client), workers=2, max_seconds=600) as load,
        SteadyLoad(probe_call, workers=1, max_seconds=600) as prober,
        GitOpsWriter(site, target) as writer,
    ):
        rolled = site.wait_endpoint(
            lambda e: rollout_of(e).get("phase") == "RolledBack",
            "the slow candidate rolled back",
            POD_START_S,
        )
        seen_at = time.time()
        wait_for(
            lambda: (
                rolled["status"].get("traffic") == {"blue": 100}
                or (site.endpoint()["status"].get("traffic") == {"blue": 100})
            ),
            "status.traffic back on blue",
            120,
            0.5,
        )
        # The callers' view: a stretch of probe answers all from blue, after the decision.
        wait_for(
            lambda: (
                (recent := [w for s, w in probe[-40:] if s > seen_at])
                and len(recent) >= 20
                and set(recent) == {"blue"}
            ),
            "callers answered only by blue",
            120,
            0.5,
        )
    report = load.stop()
    probed = prober.stop()
    assert report.failures == [] and probed.failures == [], (report.failures[:3], probed.failures)
    assert writer.errors == [], writer.errors
    assert report.served_by["slow"] > 0, "the candidate took live traffic before it failed"
    endpoint = site.endpoint()
    assert_spec_only_ours(endpoint, target)
    record = rollout_of(endpoint)
    decided_at = parse_time(record["rolledBack"]["time"])
    last_slow = max(sent for sent, who in probe if who == "slow")
    return {
        # The stamp has whole seconds: an upper bound by up to 1 s.
        "from_decision_stamp_s": last_slow - decided_at,
        "from_status_seen_s": last_slow - seen_at,
        "record": record,
        "endpoint": endpoint,
    }


def test_slow_candidate_is_rolled_back_on_p99_without_a_failed_call(site: Site):
    serve_blue_only(site)
    client = site.client()
    runs = []
    for _ in range(ROLLBACK_RUNS):
        runs.append(roll_back_slow_candidate(site, client))
    stamps = [r["from_decision_stamp_s"] for r in runs]
    seen = [r["from_status_seen_s"] for r in runs]
    # sys.__stdout__: the in-process operator's runner (click) holds sys.stdout meanwhile.
    print(
        f"\nROLLBACK last slow answer after the decision stamp: {stamps} "
        f"(median {statistics.median(stamps):.2f} s); after status was seen: {seen} "
        f"(median {statistics.median(seen):.2f} s)",
        file=sys.__stdout__,
        flush=True,
    )
    last = runs[-1]
    record, endpoint = last["record"], last["endpoint"]
    assert endpoint["status"]["traffic"] == {"blue": 100}
    assert record["rolledBack"]["reason"] == "GateFailed"
    healthy = condition(endpoint, "RolloutHealthy")
    assert healthy["status"] == "False" and healthy["reason"] == "GateFailed", healthy
    # The message names the gate, the measured value and the threshold.
    assert "latencyP99" in healthy["message"], healthy
    assert f"<= {LATENCY_GATE_MS}" in healthy["message"], healthy
    failed = [g for a in record["analysis"] for g in a["gates"] if g["passed"] is False]
    assert failed and failed[-1]["metric"] == "latencyP99", record["analysis"]
    assert failed[-1]["measured"] > LATENCY_GATE_MS, failed
    assert (
        str(round(failed[-1]["measured"])) in healthy["message"]
        or str(failed[-1]["measured"]) in healthy["message"]
    ), (healthy, failed)
    # Once the routers settle, Ready says the committed split is not served and why.
    site.wait_endpoint(
        lambda e: condition(e, "Ready").get("reason") == "RolledBack", "Ready=RolledBack", 60
    )
    assert site.events("RolloutRolledBack"), "no RolloutRolledBack Event"


GARBAGE = [
    (b"{not json", "application/json"),
    (json.dumps({"data": [[1.0, 2.0]]}).encode(), "application/json"),  # 2 features, not 4
    (json.dumps({"data": "rows"}).encode(), "application/json"),
    (json.dumps({"rows": [[1, 2, 3, 4]]}).encode(), "application/json"),
    (b"\xff\xfe\x00garbage", "application/octet-stream"),
]


def test_garbage_during_a_canary_does_not_roll_it_back(site: Site):
    serve_blue_only(site)
    client = site.client()
    target = manifest(
        [deployment("blue"), deployment("green")],
        {"green": 100},
        canary([50, 100], [{"metric": "successRate", "min": 0.99}]),
    )
    garbage_answers: list[int] = []

    def garbage_call(session: requests.Session) -> requests.Response:
        body, content_type = GARBAGE[len(garbage_answers) % len(GARBAGE)]
        response = session.post(
            f"{client.base_url}/score",
            data=body,
            headers={"Content-Type": content_type},
            timeout=10,
        )
        garbage_answers.append(response.status_code)
        time.sleep(0.02)
        return response

    with (
        SteadyLoad(steady_score(client), workers=2, max_seconds=600) as load,
        SteadyLoad(garbage_call, workers=1, max_seconds=600),
        GitOpsWriter(site, target) as writer,
    ):
        done = site.wait_endpoint(
            lambda e: (
                rollout_of(e).get("phase") in ("Succeeded", "RolledBack")
                and e["status"].get("traffic") == {"green": 100}
            ),
            "the canary promoted",
            POD_START_S,
        )
    report = load.stop()
    assert report.failures == [], report.failures[:3]
    assert writer.errors == [] and writer.applies > 2, (writer.applies, writer.errors)
    record = rollout_of(done)
    assert record["phase"] == "Succeeded", record
    assert condition(done, "RolloutHealthy")["status"] == "True"
    # The garbage reached the scoring pods and was refused as the client's fault.
    assert garbage_answers and all(400 <= s < 500 for s in garbage_answers), set(garbage_answers)
    judged = [a for a in record["analysis"] if a["result"] == "Passed"]
    assert judged and all(a["calls"] >= MIN_CALLS for a in judged), record["analysis"]
    # Every step taken in order, never one twice: nothing flapped under the re-applies.
    steps = [
        e["message"]
        for e in sorted(site.events("RolloutStep"), key=lambda e: e["firstTimestamp"] or "")
    ]
    assert steps, "no RolloutStep Event"
    assert_spec_only_ours(done, target)


def test_a_version_changed_in_place_is_stepped_then_handed_back_without_a_failed_call(
    site: Site,
):
    """Git changes blue's model version and nothing else: a candidate takes the steps, blue's
    own pods keep version 1 until the promotion, then take version 3 and the share back."""
    try:
        x, y = load_iris(return_X_y=True)
        buffer = io.BytesIO()
        joblib.dump(LogisticRegression(max_iter=300).fit(x, y), buffer)
        site.apply(*configmap_model(buffer.getvalue(), version="3"))
        wait_for(
            lambda: condition(site.get("model", "iris-3"), "Ready").get("status") == "True",
            "Model iris-3 Ready",
            120,
        )
        serve_blue_only(site)
        client = site.client()
        target = manifest(
            [deployment("blue", version="3")],
            {"blue": 100},
            canary([50, 100], [{"metric": "successRate", "min": 0.99}]),
        )
        probe: list[tuple[float, str, str]] = []  # (sent, who answered, the model version)

        def probe_call(session: requests.Session) -> requests.Response:
            sent = time.time()
            response = client.infer(ROWS[:1], session=session)
            if response.status_code == 200:
                who = response.headers.get(SERVED_HEADER, "")
                probe.append((sent, who, response.json()["model_version"]))
            time.sleep(0.05)
            return response

        with (
            SteadyLoad(steady_score(client), workers=2, max_seconds=600) as load,
            SteadyLoad(probe_call, workers=1, max_seconds=600) as prober,
            GitOpsWriter(site, target) as writer,
        ):
            committed = time.time()
            done = site.wait_endpoint(
                lambda e: (
                    rollout_of(e).get("phase") == "Succeeded"
                    and e["status"].get("traffic") == {"blue": 100}
                    and [(d["name"], d["modelVersion"]) for d in e["status"]["deployments"]]
                    == [("blue", "3")]
                    and condition(e, "Ready").get("status") == "True"
                ),
                "version 3 handed back to blue",
                POD_START_S,
            )
            handed_back = time.time()
            wait_for(
                lambda: site.get("deployment", "iris-blue-next") is None, "candidate gone", 120
            )
            wait_for(
                lambda: len([p for p in probe if p[0] > handed_back]) >= 20,
                "20 answers after the hand-over",
                60,
            )
        report = load.stop()
        probed = prober.stop()
        assert report.failures == [] and probed.failures == [], (
            report.failures[:3],
            probed.failures,
        )
        assert writer.errors == [] and writer.applies > 2, (writer.applies, writer.errors)
        # The candidate took the step with version 3, while blue's own pods still served 1.
        assert {v for _, who, v in probe if who == "blue-next"} == {"3"}, probe
        first_candidate = min(t for t, who, _ in probe if who == "blue-next")
        during_step = {v for t, who, v in probe if who == "blue" and t >= first_candidate}
        assert "1" in during_step, "blue served nothing during the step"
        # Blue never went back to version 1 once it answered with 3, and ends on 3 alone.
        blue = [v for _, who, v in probe if who == "blue"]
        first_new = blue.index("3")
        assert set(blue[first_new:]) == {"3"}, blue
        assert {(who, v) for t, who, v in probe if t > handed_back} == {("blue", "3")}
        record = rollout_of(done)
        (change,) = record["versionChanges"]
        assert (change["candidate"], change["fromVersion"], change["toVersion"]) == (
            "blue-next",
            "1",
            "3",
        )
        assert [a["result"] for a in record["analysis"]] == ["Passed"], record["analysis"]
        assert site.events("RolloutHandedOver"), "no RolloutHandedOver Event"
        assert_spec_only_ours(done, target)
        print(
            f"\nIN-PLACE version 1 -> 3: commit to handed back {handed_back - committed:.1f} s; "
            f"answers {dict(report.served_by)}; probe {len(probe)}",
            file=sys.__stdout__,
            flush=True,
        )
    finally:
        # The next tests start from blue on version 1: back to it without a rollout policy
        # (a change under their policies would wait for calls nobody sends).
        serve_blue_only(site)


# A blue-green rollout mirroring half of the calls (the most allowed), gated on agreement.
AGREEMENT_MIN = 0.95
SHADOW_POLICY = {
    "strategy": "blueGreen",
    "mirrorPercent": 50,
    "intervalSeconds": INTERVAL_S,
    "minCalls": 20,
    "gates": [{"metric": "agreement", "min": AGREEMENT_MIN}],
    "failedChecksTolerated": 0,
}
# Two replicas of blue: live answers and feedback must meet whichever replica answered.
BLUE_REPLICAS = 2
COLLECTOR = f"{ENDPOINT}-shadow"


def disagreeing_iris_model() -> list[dict]:
    """Iris 2, fitted on labels shifted by one class: it disagrees with iris 1 on most rows."""
    x, y = load_iris(return_X_y=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=500).fit(x, (y + 1) % 3), buffer)
    return configmap_model(buffer.getvalue(), version="2")


def collector_document(site: Site) -> dict:
    """The shadow collector's GET /shadow, read through the API server as the operator does."""
    service = f"{COLLECTOR}:{c.SHADOW_COLLECTOR_PORT}"
    path = f"/api/v1/namespaces/{site.namespace}/services/{service}/proxy/shadow"
    return json.loads(site.cluster.kubectl("get", "--raw", path).stdout)


def serve_blue_shadowed(site: Site) -> None:
    """Blue alone on two replicas, the agreement gate declared: the collector runs, and every
    blue pod ships its answers to it."""
    site.commit(
        manifest([deployment("blue", replicas=BLUE_REPLICAS)], {"blue": 100}, SHADOW_POLICY)
    )
    wait_blue_alone(site, "blue alone serving, shadowed")

    def shipping(name: str, replicas: int) -> bool:
        deploy = site.get("deployment", name) or {}
        status = deploy.get("status", {})
        return (
            status.get("observedGeneration") == deploy["metadata"]["generation"]
            and status.get("updatedReplicas") == replicas
            and status.get("readyReplicas") == replicas
            and status.get("replicas") == replicas
        )

    wait_for(lambda: shipping(COLLECTOR, 1), "the collector Ready", POD_START_S)
    wait_for(
        lambda: shipping(f"{ENDPOINT}-blue", BLUE_REPLICAS),
        "both blue pods on the template that ships answers",
        POD_START_S,
    )


def probability_call(client: EndpointClient) -> Callable[[requests.Session], requests.Response]:
    """Three rows with their class probabilities: the collector compares those too."""

    def call(session: requests.Session) -> requests.Response:
        time.sleep(0.02)
        return session.post(
            f"{client.base_url}/score",
            json={"data": ROWS[:3], "probabilities": True},
            timeout=10,
        )

    return call


def test_a_disagreeing_candidate_is_refused_in_shadow_before_it_takes_live_traffic(site: Site):
    site.apply(*disagreeing_iris_model())
    wait_for(lambda: site.ready("model", "iris-2"), "Model iris-2 Ready", 120)
    serve_blue_shadowed(site)
    client = site.client()
    target = manifest(
        [deployment("blue", replicas=BLUE_REPLICAS), deployment("green", version="2")],
        {"green": 100},
        SHADOW_POLICY,
    )
    committed = time.time()
    with (
        SteadyLoad(probability_call(client), workers=2, max_seconds=600) as load,
        GitOpsWriter(site, target) as writer,
    ):
        rolled = site.wait_endpoint(
            lambda e: rollout_of(e).get("phase") == "RolledBack",
            "the disagreeing candidate refused",
            POD_START_S,
        )
        refused_after = time.time() - committed
        # Callers keep getting blue after the decision, as they did before it.
        time.sleep(2)
    report = load.stop()
    assert report.failures == [], report.failures[:3]
    assert writer.errors == [], writer.errors
    # Shadow only: every caller was answered by blue, none by the candidate.
    assert set(report.served_by) == {"blue"} and report.sent > 0, report.served_by
    record = rollout_of(rolled)
    assert record["rolledBack"]["reason"] == "GateFailed", record
    assert rolled["status"]["traffic"] == {"blue": 100}
    failed = [g for a in record["analysis"] for g in a["gates"] if g["passed"] is False]
    assert failed and failed[-1]["metric"] == "agreement", record["analysis"]
    gate = failed[-1]
    assert gate["measured"] < AGREEMENT_MIN and gate["threshold"] == f">= {AGREEMENT_MIN}", gate
    assert gate["calls"] >= SHADOW_POLICY["minCalls"], gate
    step = record["shadow"]["green"]
    assert step["pairedRows"] == 3 * step["pairedRequests"] and step["agreement"] < AGREEMENT_MIN
    healthy = condition(rolled, "RolloutHealthy")
    assert healthy["status"] == "False" and "agreement" in healthy["message"], healthy
    assert f">= {AGREEMENT_MIN}" in healthy["message"], healthy
    assert site.events("RolloutRolledBack"), "no RolloutRolledBack Event"
    assert_spec_only_ours(site.endpoint(), target)
    # The collector's own cumulative figures: the same disagreement, and the probabilities.
    figures = collector_document(site)["candidates"]["green"]
    assert figures["agreement"] < AGREEMENT_MIN, figures
    assert figures["meanAbsProbabilityDiff"] > 0.1, figures
    print(
        f"\nSHADOW refused after {refused_after:.1f} s from the commit; step: agreement "
        f"{step['agreement']} over {step['pairedRequests']} paired requests; collector: "
        f"agreement {figures['agreement']:.4f}, mean |Δp| "
        f"{figures['meanAbsProbabilityDiff']:.4f} over {figures['pairedRows']} rows",
        file=sys.__stdout__,
        flush=True,
    )


def test_feedback_finds_the_answer_whichever_replica_gave_it(site: Site):
    serve_blue_shadowed(site)
    client = site.client()
    _, y = load_iris(return_X_y=True)
    truth = y[::10][:3].tolist()
    pods = [
        pod["metadata"]["name"]
        for pod in json.loads(
            site.kubectl("get", "pods", "-l", "modelserve.io/deployment=blue", "-o", "json").stdout
        )["items"]
        if pod["metadata"].get("deletionTimestamp") is None
    ]
    assert len(pods) == BLUE_REPLICAS, pods
    # Each replica answers half of the requests: sent to the pod itself (through the API
    # server's pod proxy), so which replica answered is known rather than left to chance.
    api = site.cluster.api_client()
    request_ids = [f"fb-{uuid.uuid4().hex}" for _ in range(60)]
    for index, request_id in enumerate(request_ids):
        pod = pods[index % len(pods)]
        method, url, headers, body, _ = api.param_serialize(
            "POST",
            f"/api/v1/namespaces/{site.namespace}/pods/{pod}:{c.SCORING_HTTP_PORT}/proxy/score",
            header_params={"Content-Type": "application/json", "X-Request-ID": request_id},
            body={"data": ROWS[:3]},
            auth_settings=["BearerToken"],
        )
        answer = api.call_api(method, url, header_params=headers, body=body, _request_timeout=10)
        assert answer.status == 200, answer.read()
    matched: list[int] = []

    def all_matched() -> bool:
        # Answers reach the collector within its shipping period; retry the ones not there yet.
        for request_id in request_ids[len(matched) :]:
            response = requests.post(
                f"{client.base_url}/feedback",
                json={"requestId": request_id, "labels": truth},
                timeout=10,
            )
            if response.status_code == 404:
                return False
            assert response.status_code == 200, response.text
            matched.append(response.json()["matched"])
        return True

    wait_for(all_matched, "feedback for every request matched", 30, 0.5)
    assert matched == [3] * len(request_ids), matched
    live = collector_document(site)["feedback"]
    assert live["liveAccuracy"] is not None and live["liveAccuracy"] > 0.9, live
    print(
        f"\nFEEDBACK through the router matched {len(matched)}/{len(request_ids)} requests "
        f"answered by {len(pods)} replicas; live accuracy {live['liveAccuracy']:.3f}",
        file=sys.__stdout__,
        flush=True,
    )


@pytest.fixture(scope="module")
def released_site(cluster, node) -> Iterator[tuple[Site, str]]:
    """The operator in a pod of its own (the chart, one replica) watching a namespace of
    its own with iris 1; yields the site and the operator's namespace."""
    installer = walkthrough()
    tools = installer.Cluster(str(cluster.kubeconfig))
    suffix = uuid.uuid4().hex[:6]
    release, system, watched = f"ro-{suffix}", f"ro-system-{suffix}", f"rollout-pod-{suffix}"
    try:
        installer.install_operator(
            tools, release, system, watched, NODE_NAME, extra_values={"replicas": 1}
        )
        site = Site(cluster, watched)
        wait_for(lambda: site.get("serviceaccount", "default"), "default ServiceAccount", 60)
        site.apply(*iris_model())
        wait_for(
            lambda: condition(site.get("model", "iris-1"), "Ready").get("status") == "True",
            "Model iris-1 Ready",
            120,
        )
        yield site, system
    finally:
        installer.down(tools, watched, release, system)


def test_killed_operator_pod_resumes_the_rollout_at_the_same_step(
    released_site: tuple[Site, str],
):
    site, system = released_site
    serve_blue_only(site)
    client = site.client()
    target = manifest(
        [deployment("blue"), deployment("green")],
        {"green": 100},
        {**canary([20, 40, 60, 100], [{"metric": "successRate", "min": 0.99}]), "minCalls": 60},
    )
    steps_seen: list[int] = []

    history: list[tuple] = []  # (step, phase, status.traffic) as they changed, for failures

    def note_step() -> dict:
        endpoint = site.endpoint()
        record = rollout_of(endpoint)
        step = record.get("step")
        if step is not None and (not steps_seen or steps_seen[-1] != step):
            steps_seen.append(step)
        seen = (step, record.get("phase"), endpoint.get("status", {}).get("traffic"))
        if not history or history[-1] != seen:
            history.append(seen)
        return endpoint

    (operator_pod,) = json.loads(
        site.cluster.kubectl("get", "pods", "-n", system, "-o", "json").stdout
    )["items"]
    pod_name = operator_pod["metadata"]["name"]

    def restarts() -> int:
        pod = json.loads(
            site.cluster.kubectl("get", "pod", pod_name, "-n", system, "-o", "json").stdout
        )
        (status,) = [
            s for s in pod["status"]["containerStatuses"] if s["name"] == OPERATOR_CONTAINER
        ]
        return int(status.get("restartCount", 0))

    restarts_before = restarts()
    with (
        SteadyLoad(steady_score(client), workers=2, max_seconds=600) as load,
        GitOpsWriter(site, target),
    ):
        site.wait_endpoint(
            lambda e: (note_step() and rollout_of(e).get("step", 0) >= 2
                       and rollout_of(e).get("phase") == "Progressing"),
            "the canary at its second step",
            POD_START_S,
        )  # fmt: skip
        NodeRuntime().kill_operator(system, pod_name)
        held = rollout_of(note_step())
        wait_for(lambda: restarts() > restarts_before, "the operator container restarted", 120)
        done = wait_for(
            lambda: (
                (e := note_step())
                and rollout_of(e).get("phase") == "Succeeded"
                and e["status"].get("traffic") == {"green": 100}
                and e
            ),
            "the canary promoted after the restart",
            POD_START_S,
            0.5,
        )
    report = load.stop()
    assert report.failures == [], report.failures[:3]
    record = rollout_of(done)
    assert done["status"]["traffic"] == {"green": 100}
    # Resumed: the step held when the pod died was never started again from step 1.
    assert steps_seen == sorted(set(steps_seen)), history
    assert held["step"] >= 2 and held["step"] in steps_seen, (held, history)
    analysed = [a["step"] for a in record["analysis"]]
    assert analysed == sorted(analysed), record["analysis"]
    assert_spec_only_ours(done, target)
