"""spec.rollout on the real control plane: the policy's validation, and a rollout stepped in
status while a GitOps-style writer keeps re-applying the same manifest.

The scoring pods run on simulated (KWOK) nodes and cannot answer GET /monitoring/requests,
so the in-process operator reads call counters through its seam (`fetch_call_counts`)
from a table the test controls; everything else (the spec, status, Events, the router's
configuration, pods becoming Ready) is the real API server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from cluster_objects import condition, get, spec_managers
from modelserve_client.artifacts import configmap_registration

WRITER = "gitops-writer"
BUCKETS_MS = [5.0, 10.0, 50.0, 100.0]


class Counters:
    """GET /monitoring/requests of each deployment's one pod: 40 more calls at each read."""

    def __init__(self) -> None:
        self.answered: dict[str, int] = {}
        self.server_errors: dict[str, int] = {}
        self.failing: set[str] = set()
        # While frozen, the pods answer no new call: a step waits (TooFewCalls).
        self.frozen = False
        self.operator: Any = None

    def __call__(self, namespace: str, endpoint: str, deployment: str) -> dict[str, dict]:
        self.answered[deployment] = self.answered.get(deployment, 0) + (0 if self.frozen else 40)
        if deployment in self.failing:  # a quarter of its calls fail with a 5xx
            self.server_errors[deployment] = self.server_errors.get(deployment, 0) + 10
        answered = self.answered[deployment]
        counts = {
            "answered": answered,
            "serverErrors": self.server_errors.get(deployment, 0),
            "latencyBucketsMs": BUCKETS_MS,
            "latencyCounts": [answered, 0, 0, 0, 0],
        }
        return {f"{endpoint}-{deployment}-pod": counts}


@pytest.fixture
def counters(operator_factory, namespace, monkeypatch) -> Iterator[Counters]:
    running = operator_factory(namespace, monkeypatch, {"MODELSERVE_NODE_SELECTOR": "type=kwok"})
    running.start()
    from modelserve_operator.handlers.state import state

    table = Counters()
    table.operator = running
    state().endpoints.rollout.fetch_call_counts = table
    yield table
    running.delete_objects_and_stop()


def manifest(traffic: dict[str, int], rollout: dict | None = None) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "iris"},
        "spec": {
            "authMode": "none",
            "deployments": [
                {"name": "blue", "model": {"name": "iris", "version": "1"}},
                {"name": "green", "model": {"name": "iris", "version": "2"}},
            ],
            "traffic": traffic,
            "rollout": rollout
            if rollout is not None
            else {"steps": [50, 100], "intervalSeconds": 5, "minCalls": 20},
        },
    }


def server_side_apply(cluster, namespace: str, body: dict) -> None:
    """Apply as a GitOps tool does: server-side, with a field manager of its own."""
    cluster.kubectl(
        "apply", "--server-side", f"--field-manager={WRITER}", "--force-conflicts",
        "-n", namespace, "-f", "-", input_text=yaml.safe_dump(body),
    )  # fmt: skip


class GitOpsWriter:
    """Applies `desired` now, then again every 2 s until stopped, as Argo CD's self-heal does."""

    def __init__(self, cluster, namespace: str, desired: dict) -> None:
        server_side_apply(cluster, namespace, desired)
        self._stopping = threading.Event()

        def keep_applying() -> None:
            while not self._stopping.wait(2):
                server_side_apply(cluster, namespace, desired)

        self._thread = threading.Thread(target=keep_applying, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)


def submit_dry_run(cluster, namespace: str, body: dict):
    return cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-",
        input_text=json.dumps(body), check=False,
    )  # fmt: skip


def events(cluster, namespace: str, reason: str) -> list[str]:
    listed = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector",
        f"involvedObject.name=iris,involvedObject.kind=OnlineEndpoint,reason={reason}",
        "-o", "json",
    )  # fmt: skip
    return [e["message"] for e in json.loads(listed.stdout)["items"]]


@pytest.mark.parametrize(
    ("rollout", "field", "fragment"),
    [
        ({"steps": [5, 25]}, "spec.rollout.steps", "the last canary step must be 100"),
        ({"steps": [50, 25, 100]}, "spec.rollout.steps", "steps must rise"),
        ({"strategy": "linear"}, "spec.rollout.strategy", "Unsupported value"),
        ({"intervalSeconds": 1}, "spec.rollout.intervalSeconds", "greater than or equal to 5"),
        ({"mirrorPercent": 80}, "spec.rollout.mirrorPercent", "less than or equal to 50"),
        (
            {"gates": [{"metric": "latencyP99", "min": 0.5}]},
            "spec.rollout.gates[0].maxMs",
            "latencyP99 gate takes maxMs",
        ),
        (
            {"gates": [{"metric": "successRate", "min": 0.9, "maxMs": 100}]},
            "spec.rollout.gates[0].min",
            "successRate gate takes min",
        ),
        ({"gates": [{"metric": "agreement"}]}, "spec.rollout.gates[0].min", "agreement gate"),
        ({"gates": [{"metric": "successRate", "min": 1.5}]}, "spec.rollout.gates[0].min", "1"),
    ],
)
def test_api_server_refuses_an_invalid_rollout_policy_naming_the_field(
    cluster, crds, namespace, rollout, field, fragment
):
    refused = submit_dry_run(cluster, namespace, manifest({"blue": 100}, rollout))
    assert refused.returncode != 0, f"accepted: {rollout}"
    assert field in refused.stderr, refused.stderr
    assert fragment in refused.stderr, refused.stderr


def test_api_server_fills_rollout_defaults(cluster, crds, namespace):
    cluster.kubectl(
        "create", "-n", namespace, "-f", "-", input_text=json.dumps(manifest({"blue": 100}, {}))
    )
    stored = get(cluster, namespace, "onlineendpoint", "iris")["spec"]
    assert stored["rollout"] == {
        "strategy": "canary",
        "steps": [5, 25, 50, 100],
        "mirrorPercent": 50,
        "intervalSeconds": 30,
        "minCalls": 100,
        "gates": [{"metric": "successRate", "min": 0.99}],
        "failedChecksTolerated": 1,
        "onSuccess": "promote",
    }
    # Without a policy nothing is added: today's behaviour.
    body = manifest({"blue": 100})
    del body["spec"]["rollout"]
    body["metadata"]["name"] = "plain"
    cluster.kubectl("create", "-n", namespace, "-f", "-", input_text=json.dumps(body))
    assert "rollout" not in get(cluster, namespace, "onlineendpoint", "plain")["spec"]


def register_versions(cluster, namespace: str, artifact: bytes) -> None:
    for version in ("1", "2"):
        config_map, model = configmap_registration(artifact, "iris", version)
        cluster.kubectl(
            "apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump_all([config_map, model])
        )


def serving(cluster, namespace: str, traffic: dict[str, int], timeout: float = 120) -> dict:
    return cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and e.get("status", {}).get("traffic") == traffic
            and condition(e, "Ready").get("status") == "True"
            and e
        ),
        f"the endpoint Ready serving {traffic}",
        timeout=timeout,
    )


def test_a_rollout_steps_in_status_while_a_gitops_writer_reapplies_the_spec(
    cluster, namespace, counters, iris_artifact
):
    register_versions(cluster, namespace, iris_artifact)
    server_side_apply(cluster, namespace, manifest({"blue": 100}))
    serving(cluster, namespace, {"blue": 100})

    # Git now says green; the writer keeps re-applying that same manifest, as Argo CD's
    # self-heal does, and never has to change it.
    desired = manifest({"green": 100})
    writer = GitOpsWriter(cluster, namespace, desired)
    seen: list[dict] = []
    try:

        def promoted():
            body = get(cluster, namespace, "onlineendpoint", "iris") or {}
            status = body.get("status", {})
            traffic = status.get("traffic")
            if traffic and (not seen or seen[-1] != traffic):
                seen.append(traffic)
            return (
                status.get("rollout", {}).get("phase") == "Succeeded"
                and traffic == {"green": 100}
                and condition(body, "Ready").get("status") == "True"
                and body
            )

        done = cluster.wait_for(promoted, "the rollout to promote green", timeout=180)
    finally:
        writer.stop()
    # Callers got the step before the promotion; the spec never moved.
    assert seen[0] == {"blue": 100} and seen[-1] == {"green": 100}, seen
    assert {"blue": 50, "green": 50} in seen, seen
    assert done["spec"]["traffic"] == {"green": 100}
    rollout = done["status"]["rollout"]
    assert rollout["stable"] == {"blue": 100} and rollout["target"] == {"green": 100}
    (analysis,) = rollout["analysis"]
    assert analysis["result"] == "Passed" and analysis["calls"] >= 20, analysis
    assert analysis["gates"][0]["metric"] == "successRate"
    assert analysis["gates"][0]["passed"] is True
    assert events(cluster, namespace, "RolloutStep")
    assert events(cluster, namespace, "RolloutSucceeded")
    # Only the writer ever owned the spec: no operator manager on any spec field.
    assert spec_managers(cluster, namespace, "onlineendpoint", "iris") == {WRITER}


def test_a_failed_gate_rolls_back_in_status_and_the_target_is_not_retried(
    cluster, namespace, counters, iris_artifact
):
    register_versions(cluster, namespace, iris_artifact)
    policy = {"steps": [50, 100], "intervalSeconds": 5, "minCalls": 20, "failedChecksTolerated": 0}
    server_side_apply(cluster, namespace, manifest({"blue": 100}, policy))
    serving(cluster, namespace, {"blue": 100})
    counters.failing.add("green")
    server_side_apply(cluster, namespace, manifest({"green": 100}, policy))
    rolled_back = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and e["status"].get("rollout", {}).get("phase") == "RolledBack"
            and e["status"].get("traffic") == {"blue": 100}
            and e
        ),
        "the rollout rolled back to blue",
        timeout=120,
    )
    healthy = condition(rolled_back, "RolloutHealthy")
    assert healthy["status"] == "False" and healthy["reason"] == "GateFailed", healthy
    assert "successRate measured 0.75" in healthy["message"], healthy
    assert ">= 0.99" in healthy["message"], healthy
    ready = condition(rolled_back, "Ready")
    assert ready["reason"] == "RolledBack", ready
    assert (
        rolled_back["status"]["rollout"]["rolledBack"]["generation"]
        == (rolled_back["metadata"]["generation"])
    )
    rolled_back_events = events(cluster, namespace, "RolloutRolledBack")
    assert len(rolled_back_events) == 1, rolled_back_events
    message = rolled_back_events[0]
    assert "successRate" in message
    # A new generation that leaves the target alone (a policy edit): green is not tried
    # again, blue keeps serving.
    counters.failing.clear()
    server_side_apply(cluster, namespace, manifest({"green": 100}, {**policy, "minCalls": 30}))
    generation = get(cluster, namespace, "onlineendpoint", "iris")["metadata"]["generation"]
    assert generation > rolled_back["metadata"]["generation"]
    cluster.wait_for(
        lambda: (
            get(cluster, namespace, "onlineendpoint", "iris")["status"].get("observedGeneration")
            == generation
        ),
        "the re-applied spec observed",
    )
    again = get(cluster, namespace, "onlineendpoint", "iris")
    assert again["status"]["rollout"]["phase"] == "RolledBack"
    assert again["status"]["traffic"] == {"blue": 100}
    assert spec_managers(cluster, namespace, "onlineendpoint", "iris") == {WRITER}


def in_place(version: str, policy: dict | None = None) -> dict:
    """One deployment, main, serving the given version of iris."""
    body = manifest({"main": 100}, policy)
    body["spec"]["deployments"] = [{"name": "main", "model": {"name": "iris", "version": version}}]
    return body


def template_version(cluster, namespace: str, name: str) -> str | None:
    """The model version in a Deployment's pod template (None: no such Deployment)."""
    live = get(cluster, namespace, "deployment", name)
    return live and live["spec"]["template"]["metadata"]["labels"]["modelserve.io/model-version"]


def test_a_model_version_changed_in_place_is_stepped_through_a_candidate_and_handed_back(
    cluster, namespace, counters, iris_artifact
):
    register_versions(cluster, namespace, iris_artifact)
    server_side_apply(cluster, namespace, in_place("1"))
    serving(cluster, namespace, {"main": 100})

    # Git changes the version of the one deployment, nothing else; the writer re-applies it.
    # The pods answer nothing new at first, so the rollout holds at its first step.
    counters.frozen = True
    desired = in_place("2")
    writer = GitOpsWriter(cluster, namespace, desired)
    seen: list[dict] = []

    def traffic_seen() -> dict:
        body = get(cluster, namespace, "onlineendpoint", "iris") or {}
        traffic = body.get("status", {}).get("traffic")
        if traffic and (not seen or seen[-1] != traffic):
            seen.append(traffic)
        return body

    try:
        cluster.wait_for(
            lambda: traffic_seen()["status"]["traffic"] == {"main": 50, "main-next": 50},
            "the candidate taking the first step",
            timeout=120,
        )
        # While the step holds, main's own pods still serve version 1, and say so.
        assert template_version(cluster, namespace, "iris-main") == "1"
        assert template_version(cluster, namespace, "iris-main-next") == "2"
        during = traffic_seen()
        assert [(d["name"], d["modelVersion"]) for d in during["status"]["deployments"]] == [
            ("main", "1"),
            ("main-next", "2"),
        ]
        assert during["status"]["rollout"]["phase"] == "Progressing"
        counters.frozen = False

        def handed_back():
            body = traffic_seen()
            status = body.get("status", {})
            return (
                status.get("rollout", {}).get("phase") == "Succeeded"
                and status.get("traffic") == {"main": 100}
                and condition(body, "Ready").get("status") == "True"
                and get(cluster, namespace, "deployment", "iris-main-next") is None
                and body
            )

        done = cluster.wait_for(handed_back, "version 2 handed back to main", timeout=240)
    finally:
        writer.stop()
    # The candidate took the step, then gave the share back once main ran version 2.
    assert seen[0] == {"main": 100} and seen[-1] == {"main": 100}, seen
    assert {"main": 50, "main-next": 50} in seen, seen
    assert template_version(cluster, namespace, "iris-main") == "2"
    rollout = done["status"]["rollout"]
    (change,) = rollout["versionChanges"]
    assert (change["deployment"], change["candidate"]) == ("main", "main-next")
    assert (change["fromVersion"], change["toVersion"]) == ("1", "2")
    assert [a["result"] for a in rollout["analysis"]] == ["Passed"]
    assert [(d["name"], d["modelVersion"]) for d in done["status"]["deployments"]] == [
        ("main", "2")
    ]
    assert events(cluster, namespace, "RolloutHandedOver")
    assert spec_managers(cluster, namespace, "onlineendpoint", "iris") == {WRITER}


def test_a_failed_in_place_change_leaves_the_old_pods_serving_and_removes_the_candidate(
    cluster, namespace, counters, iris_artifact
):
    register_versions(cluster, namespace, iris_artifact)
    policy = {"steps": [50, 100], "intervalSeconds": 5, "minCalls": 20, "failedChecksTolerated": 0}
    server_side_apply(cluster, namespace, in_place("1", policy))
    serving(cluster, namespace, {"main": 100})
    counters.failing.add("main-next")
    server_side_apply(cluster, namespace, in_place("2", policy))
    rolled_back = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and e["status"].get("rollout", {}).get("phase") == "RolledBack"
            and e["status"].get("traffic") == {"main": 100}
            and get(cluster, namespace, "deployment", "iris-main-next") is None
            and e
        ),
        "the change rolled back and its candidate removed",
        timeout=120,
    )
    assert condition(rolled_back, "RolloutHealthy")["reason"] == "GateFailed"
    # main never left version 1, and says so
    assert template_version(cluster, namespace, "iris-main") == "1"
    assert [(d["name"], d["modelVersion"]) for d in rolled_back["status"]["deployments"]] == [
        ("main", "1")
    ]
    # Held until the spec changes: several reconciles later, still version 1, no candidate.
    counters.failing.clear()
    server_side_apply(cluster, namespace, in_place("2", {**policy, "minCalls": 30}))
    generation = get(cluster, namespace, "onlineendpoint", "iris")["metadata"]["generation"]
    cluster.wait_for(
        lambda: (
            get(cluster, namespace, "onlineendpoint", "iris")["status"].get("observedGeneration")
            == generation
        ),
        "the re-applied spec observed",
    )
    again = get(cluster, namespace, "onlineendpoint", "iris")
    assert again["status"]["rollout"]["phase"] == "RolledBack"
    assert template_version(cluster, namespace, "iris-main") == "1"
    assert get(cluster, namespace, "deployment", "iris-main-next") is None


def test_a_restarted_operator_resumes_at_the_step_and_the_annotation_promotes(
    cluster, namespace, counters, iris_artifact
):
    register_versions(cluster, namespace, iris_artifact)
    # Unreadable pods count as failed checks: the moment after a restart, before the test
    # seats its counters again, may read the simulated pods for real.
    policy = {
        "steps": [25, 100], "intervalSeconds": 5, "minCalls": 20,
        "failedChecksTolerated": 3, "onSuccess": "pause",
    }  # fmt: skip
    server_side_apply(cluster, namespace, manifest({"blue": 100}, policy))
    serving(cluster, namespace, {"blue": 100})
    counters.frozen = True
    server_side_apply(cluster, namespace, manifest({"green": 100}, policy))
    at_step = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and e["status"].get("rollout", {}).get("step") == 1
            and e["status"].get("traffic") == {"blue": 75, "green": 25}
            and e
        ),
        "the first step applied",
        timeout=120,
    )
    started = at_step["status"]["rollout"]["stepStartTime"]

    counters.operator.stop()
    counters.operator.start()
    from modelserve_operator.handlers.state import state

    state().endpoints.rollout.fetch_call_counts = counters
    counters.frozen = False
    seen: list[dict] = []

    def awaiting():
        body = get(cluster, namespace, "onlineendpoint", "iris") or {}
        traffic = body.get("status", {}).get("traffic")
        if traffic and (not seen or seen[-1] != traffic):
            seen.append(traffic)
        return (
            body.get("status", {}).get("rollout", {}).get("phase") == "AwaitingPromotion" and body
        )

    paused = cluster.wait_for(awaiting, "the rollout waiting for promote", timeout=120)
    rollout = paused["status"]["rollout"]
    # Resumed at the same step: not started again from blue.
    assert rollout["stepStartTime"] == started and rollout["step"] == 1, rollout
    assert seen == [{"blue": 75, "green": 25}], seen
    assert len(events(cluster, namespace, "RolloutStarted")) == 1
    assert condition(paused, "Ready")["reason"] == "AwaitingPromotion"

    cluster.kubectl(
        "annotate", "onlineendpoint", "iris", "-n", namespace, "modelserve.io/rollout=promote"
    )
    serving(cluster, namespace, {"green": 100})
    done = get(cluster, namespace, "onlineendpoint", "iris")
    assert done["status"]["rollout"]["phase"] == "Succeeded"
    assert "annotation" in done["status"]["rollout"]["message"]
    # Kept in status (the schema knows it): a promote left set acts on no later rollout.
    assert done["status"]["rollout"]["lastControl"] == "promote"
    # Git goes back to blue: a rollout of its own, not promoted by the annotation left set.
    server_side_apply(cluster, namespace, manifest({"blue": 100}, policy))
    back = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and e["status"].get("traffic") == {"blue": 25, "green": 75}
            and e
        ),
        "the first step back to blue",
        timeout=120,
    )
    assert back["status"]["rollout"]["phase"] in ("Progressing", "AwaitingPromotion"), back
    assert spec_managers(cluster, namespace, "onlineendpoint", "iris") == {WRITER}


class ShadowTable:
    """GET /shadow of the endpoint's collector: green pairs 40 more requests at each read,
    10 rows each, one row in ten answered differently from blue."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, namespace: str, endpoint: str) -> dict[str, Any]:
        self.reads += 1
        requests = 40 * self.reads
        figures = {"pairedRequests": requests, "pairedRows": 10 * requests}
        figures["agreeingRows"] = 9 * requests
        return {"task": "classification", "candidates": {"green": figures}}


def test_an_agreement_gate_runs_a_collector_and_rolls_back_a_disagreeing_candidate(
    cluster, namespace, counters, iris_artifact
):
    from modelserve_operator.handlers.state import state

    state().endpoints.rollout.fetch_shadow = ShadowTable()
    register_versions(cluster, namespace, iris_artifact)
    policy = {
        "strategy": "blueGreen",
        "intervalSeconds": 5,
        "minCalls": 20,
        "failedChecksTolerated": 0,
        "gates": [{"metric": "agreement", "min": 0.95}],
    }
    server_side_apply(cluster, namespace, manifest({"blue": 100}, policy))
    serving(cluster, namespace, {"blue": 100})
    # The collector and what points at it exist before any rollout step needs them.
    collector = get(cluster, namespace, "deployment", "iris-shadow")
    (container,) = collector["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "collect"
    assert get(cluster, namespace, "service", "iris-shadow")
    scoring = get(cluster, namespace, "deployment", "iris-blue")
    (serve,) = scoring["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in serve["env"]}
    assert env["MODELSERVE_COLLECTOR_URL"] == (
        f"http://iris-shadow.{namespace}.svc.cluster.local:8090"
    )

    server_side_apply(cluster, namespace, manifest({"green": 100}, policy))
    rolled_back = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and e["status"].get("rollout", {}).get("phase") == "RolledBack"
            and e
        ),
        "the disagreeing candidate rolled back",
        timeout=120,
    )
    rollout = rolled_back["status"]["rollout"]
    (gate,) = rollout["analysis"][-1]["gates"]
    assert gate["metric"] == "agreement" and gate["threshold"] == ">= 0.95", gate
    assert gate["measured"] == 0.9 and gate["passed"] is False, gate
    assert gate["calls"] > 0, gate
    assert rollout["shadow"]["green"]["agreement"] == 0.9, rollout
    assert "agreement measured 0.9" in condition(rolled_back, "RolloutHealthy")["message"]
    assert rolled_back["status"]["traffic"] == {"blue": 100}


def test_adding_and_dropping_an_agreement_gate_starts_and_removes_the_collector(
    cluster, namespace, counters, iris_artifact
):
    register_versions(cluster, namespace, iris_artifact)
    canary = {"strategy": "canary", "intervalSeconds": 5, "minCalls": 1}
    shadowed = {**canary, "strategy": "blueGreen", "gates": [{"metric": "agreement", "min": 0.9}]}

    def collector_url() -> str | None:
        scoring = get(cluster, namespace, "deployment", "iris-blue") or {}
        containers = scoring.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
        env = {e["name"]: e.get("value") for e in (containers or [{}])[0].get("env", [])}
        return env.get("MODELSERVE_COLLECTOR_URL")

    server_side_apply(cluster, namespace, manifest({"blue": 100}, canary))
    serving(cluster, namespace, {"blue": 100})
    assert collector_url() is None and get(cluster, namespace, "deployment", "iris-shadow") is None

    # The pods of an endpoint already serving are rebuilt to ship their answers.
    server_side_apply(cluster, namespace, manifest({"blue": 100}, shadowed))
    cluster.wait_for(
        lambda: collector_url() and get(cluster, namespace, "service", "iris-shadow"),
        "blue's pods pointed at a collector that runs",
    )
    server_side_apply(cluster, namespace, manifest({"blue": 100}, canary))
    cluster.wait_for(
        lambda: (
            collector_url() is None
            and get(cluster, namespace, "deployment", "iris-shadow") is None
            and get(cluster, namespace, "service", "iris-shadow") is None
        ),
        "the collector gone with the gate, and blue's pods no longer shipping to it",
    )
