"""The chart's two operator replicas on the real node: kill -9 the leader mid-rollout, partition it.

The operator is installed by Helm as the quickstart installs it (hack/walkthrough.py), in
a release and namespaces of this test's own. Failover times are measured and printed,
never asserted: what is asserted is that the standby takes over and finishes the
rollout, and that a partitioned leader exits before its lease could end.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import joblib
import pytest
import requests
import yaml
from cluster_objects import condition, configmap_model
from e2e_target import NODE_NAME
from operator_pods import LeaseView, NodeRuntime, lease_view, parse_time
from polling import wait_for
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from walkthrough_module import walkthrough

pytestmark = [pytest.mark.node, pytest.mark.timeout(1200)]

# Scoring pods verify, load and warm a model up; on a busy two-core machine that is slow.
POD_START_S = 300.0
TAKEOVER_S = 120.0
SMALL_RESOURCES = {"requests": {"cpu": "50m", "memory": "192Mi"}}
# What leadership.py exits with when it could not renew its lease in time.
EXIT_LEASE_LOST = 75
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


@dataclass(frozen=True)
class Release:
    """This test's Helm release: the operator's namespace, the watched one, the Lease."""

    tools: Any  # walkthrough.Cluster
    name: str
    namespace: str
    watched: str

    def kubectl(self, *args: str, check: bool = True) -> str:
        return self.tools.kubectl(*args, check=check)

    def get(self, namespace: str, kind: str, name: str = "", selector: str = "") -> dict[str, Any]:
        args = ["get", kind, *([name] if name else []), *(["-l", selector] if selector else [])]
        return json.loads(self.kubectl(*args, "-n", namespace, "-o", "json"))

    def lease(self) -> LeaseView:
        return lease_view(self.get(self.namespace, "lease", f"{self.name}-modelserve-leader"))

    def operator_pods(self) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={self.name}"
        return self.get(self.namespace, "pods", selector=selector)["items"]

    def operator_pod(self, name: str) -> dict[str, Any]:
        return self.get(self.namespace, "pod", name)

    def logs(self, pod: str, previous: bool = False) -> str:
        flags = ["--previous"] if previous else []
        return self.kubectl("logs", pod, "-c", "operator", "-n", self.namespace, *flags)

    def leader_metric(self, pod: str) -> float:
        # From the host to the pod's address, not through the API server's pod proxy: the
        # chart's NetworkPolicy admits only the metricsFrom peers to this port, and where
        # the network plugin judges the API server's traffic (kind) the proxy is refused.
        # A container that is restarting answers nothing yet (ValueError below).
        address = self.operator_pod(pod)["status"].get("podIP")
        try:
            raw = requests.get(f"http://{address}:8090/metrics", timeout=5).text
        except requests.RequestException:
            raw = ""
        (line,) = [x for x in raw.splitlines() if x.startswith("modelserve_operator_leader ")]
        return float(line.split()[1])


@pytest.fixture(scope="module")
def release(cluster, node) -> Iterator[Release]:
    installer = walkthrough()
    tools = installer.Cluster(str(cluster.kubeconfig))
    suffix = uuid.uuid4().hex[:6]
    installed = Release(tools, f"ha-{suffix}", f"ha-system-{suffix}", f"ha-e2e-{suffix}")
    try:
        installer.install_operator(
            tools, installed.name, installed.namespace, installed.watched, NODE_NAME
        )
        yield installed
    finally:
        installer.down(tools, installed.watched, installed.name, installed.namespace)


def iris_model(version: str, c: float) -> list[dict[str, Any]]:
    """An iris classifier (regularisation `c`) in a ConfigMap and the Model naming its digest."""
    x, y = load_iris(return_X_y=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(C=c, max_iter=500).fit(x, y), buffer)
    return configmap_model(buffer.getvalue(), version)


def iris_endpoint(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "iris"},
        "spec": {
            "authMode": "none",
            "traffic": {"blue": 100},
            "deployments": [
                {
                    "name": "blue",
                    "model": {"name": "iris", "version": version},
                    "instanceCount": 1,
                    "resources": SMALL_RESOURCES,
                }
            ],
        },
    }


def apply(release: Release, *documents: dict[str, Any]) -> None:
    release.tools.kubectl(
        "apply", "-n", release.watched, "-f", "-", input_text=yaml.safe_dump_all(documents)
    )


def serving(release: Release, version: str) -> bool:
    """The endpoint is Ready for its latest spec, and blue serves `version`."""
    endpoint = release.get(release.watched, "onlineendpoint", "iris")
    status = endpoint.get("status") or {}
    if status.get("observedGeneration") != endpoint["metadata"]["generation"]:
        return False
    ready = condition(endpoint, "Ready").get("status") == "True"
    blue = next((d for d in status.get("deployments") or [] if d["name"] == "blue"), {})
    return ready and blue.get("modelVersion") == version


def model_ready(release: Release, name: str) -> bool:
    model = release.get(release.watched, "model", name)
    return condition(model, "Ready").get("status") == "True"


def log_time(line: str) -> float:
    """The epoch time of one operator log line (its clock is the node's: this machine's)."""
    stamp = LOG_TIME.match(line).group(1)
    parsed = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def first_line(text: str, needle: str) -> str | None:
    return next((line for line in text.splitlines() if needle in line), None)


def operator_container(pod: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in pod["status"].get("containerStatuses") or [] if s["name"] == "operator")


def both_replicas_running(release: Release) -> bool:
    pods = release.operator_pods()
    return len(pods) == 2 and all(
        operator_container(p).get("state", {}).get("running") for p in pods
    )


def test_the_standby_finishes_a_rollout_when_the_leader_is_killed(release: Release):
    wait_for(lambda: both_replicas_running(release), "two operator replicas running", TAKEOVER_S)
    apply(release, *iris_model("1", 1.0), *iris_model("2", 0.5), iris_endpoint("1"))
    wait_for(lambda: serving(release, "1"), "endpoint iris Ready with version 1", POD_START_S)
    wait_for(lambda: model_ready(release, "iris-2"), "Model iris-2 Ready", 60)
    before = release.lease()
    standby = next(
        p["metadata"]["name"]
        for p in release.operator_pods()
        if p["metadata"]["name"] != before.holder_pod
    )
    assert release.leader_metric(before.holder_pod) == 1
    assert release.leader_metric(standby) == 0
    assert "standby" in release.logs(standby)

    # Start the rollout; once the leader has acted on it (observedGeneration), kill it.
    version_2 = [{"op": "replace", "path": "/spec/deployments/0/model/version", "value": "2"}]
    release.kubectl(
        *("patch", "onlineendpoint", "iris", "-n", release.watched),
        *("--type=json", "-p", json.dumps(version_2)),
    )
    generation = release.get(release.watched, "onlineendpoint", "iris")["metadata"]["generation"]
    wait_for(
        lambda: (
            release.get(release.watched, "onlineendpoint", "iris")["status"].get(
                "observedGeneration"
            )
            == generation
        ),
        "the leader to start the rollout",
        60,
        interval=0.2,
    )
    assert not serving(release, "2"), "the rollout finished before the leader could be killed"
    runtime = NodeRuntime()
    runtime.container_pid(release.namespace, before.holder_pod)  # the container is running
    killed_at = time.time()
    runtime.kill_operator(release.namespace, before.holder_pod)

    after = wait_for(
        lambda: (lease := release.lease()).holder != before.holder and lease.holder and lease,
        "a standby to take the lease",
        TAKEOVER_S,
        interval=0.2,
    )
    wait_for(
        lambda: serving(release, "2"),
        "the new leader to finish the rollout (version 2 Ready)",
        POD_START_S,
    )

    # Usually the other pod; the killed container, back as a new process and so a new
    # candidate, may win the lease too. Either way a standby took over.
    logs = release.logs(after.holder_pod)
    started = first_line(logs, f"leading as {after.holder}")
    reconciled = first_line(
        logs.split(started, 1)[1] if started else "", "first reconcile since start done"
    )
    assert started and reconciled, logs[-3000:]
    print(
        f"\nfailover after kill -9 of the leader in {before.holder_pod}: {after.holder_pod} took "
        f"the lease {after.acquire_time.timestamp() - killed_at:.1f} s after the kill and "
        f"reconciled {log_time(reconciled) - killed_at:.1f} s after it "
        f"(lease 10 s, renew deadline 7 s, retry 2 s)"
    )
    # The killed container restarted in its pod; one replica leads, the other stands by.
    killed = operator_container(release.operator_pod(before.holder_pod))
    assert killed["lastState"]["terminated"]["exitCode"] == 137
    wait_for(lambda: both_replicas_running(release), "both replicas running again", TAKEOVER_S)
    pods = sorted(p["metadata"]["name"] for p in release.operator_pods())
    wait_for(
        lambda: (
            {pod: release.leader_metric(pod) for pod in pods}
            == {pod: float(pod == after.holder_pod) for pod in pods}
        ),
        "modelserve_operator_leader 1 on the new leader only",
        TAKEOVER_S,
    )


def test_a_leader_cut_off_from_the_api_server_exits_before_its_lease_ends(release: Release):
    wait_for(lambda: both_replicas_running(release), "two operator replicas running", TAKEOVER_S)
    before = wait_for(lambda: (lease := release.lease()).holder and lease, "a leader", TAKEOVER_S)
    restarts = operator_container(release.operator_pod(before.holder_pod))["restartCount"]
    # The API server as the pod reaches it: the `kubernetes` Service and its endpoints.
    addresses = {release.get("default", "service", "kubernetes")["spec"]["clusterIP"]}
    slices = release.get(
        "default", "endpointslices", selector="kubernetes.io/service-name=kubernetes"
    )
    addresses |= {
        a for s in slices["items"] for e in s.get("endpoints") or [] for a in e["addresses"]
    }
    runtime = NodeRuntime()
    netns = runtime.netns(release.namespace, before.holder_pod)
    rules = [("OUTPUT", "-d", address, "-j", "DROP") for address in sorted(addresses)]
    cut_at = time.time()
    try:
        for rule in rules:
            runtime.iptables_in(netns, "-I", *rule)
        after = wait_for(
            lambda: (lease := release.lease()).holder != before.holder and lease.holder and lease,
            "the standby to take the lease",
            TAKEOVER_S,
            interval=0.2,
        )
        exited = wait_for(
            lambda: (
                (c := operator_container(release.operator_pod(before.holder_pod)))["restartCount"]
                > restarts
                and c["lastState"]["terminated"]
            ),
            "the partitioned leader's container to exit",
            TAKEOVER_S,
        )
        previous = release.logs(before.holder_pod, previous=True)
    finally:
        for rule in rules:
            runtime.iptables_in(netns, "-D", *rule, check=False)
    assert exited["exitCode"] == EXIT_LEASE_LOST, exited
    stopped = first_line(previous, "stopped leading")
    assert stopped and "renew deadline" in stopped, previous[-3000:]
    # It stopped before the standby could lead (finishedAt has whole seconds, rounded down).
    assert parse_time(exited["finishedAt"]) <= after.acquire_time
    assert log_time(stopped) < after.acquire_time.timestamp()
    stopped_s = log_time(stopped) - cut_at
    took_s = after.acquire_time.timestamp() - cut_at
    print(
        f"\npartitioned leader {before.holder_pod} stopped {stopped_s:.1f} s after the cut; "
        f"{after.holder_pod} took the lease {took_s:.1f} s after it "
        f"({took_s - stopped_s:.1f} s after the old leader stopped)"
    )
