"""The operator, holding only the chart's namespaced RBAC, does its whole job without a 403.

The chart's ServiceAccount, Role and RoleBinding are applied to a fresh namespace, the
operator runs in-process with that ServiceAccount's token (not the admin kubeconfig),
and every kind of API call it makes is exercised: Models (ConfigMap and PVC artifacts,
and one trained by a Job), an endpoint with keys, an HPA and a PDB, pruning a deployment,
monitoring through the pod proxy, a scheduled batch that becomes a one-off run, status
patches, Events and the liveness probe.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cluster_objects import condition, configmap_model, get

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "modelserve"
RELEASE = "ms"
MODULE = "modelserve_operator.main"
# What a refused call looks like in a log line; a timestamp's milliseconds can read 403 too.
REFUSED = re.compile(r"\b403\b|forbidden|permission", re.IGNORECASE)
TIMESTAMP = re.compile(r"^\[[^\]]*\]\s*")


def message(log_line: str) -> str:
    """A Kopf log line without its leading `[date time,ms]`."""
    return TIMESTAMP.sub("", log_line, count=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def apply(cluster, namespace: str, *documents: dict) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump_all(documents))


def chart_rbac(cluster, namespace: str) -> list[dict]:
    """The chart's RBAC for a release watching `namespace` (and reading its own CRDs)."""
    helm = cluster.bin_dir / "helm"
    assert helm.exists(), f"{helm} is missing: run hack/setup.sh"
    args = [str(helm), "template", RELEASE, str(CHART), "--namespace", namespace]
    # Only RBAC is taken from the output, which does not depend on the Kubernetes version.
    args += ["--kube-version", "1.36.3", "--set", f"watchNamespaces={{{namespace}}}"]
    rendered = subprocess.run(args, capture_output=True, text=True)
    assert rendered.returncode == 0, rendered.stderr
    objects = [o for o in yaml.safe_load_all(rendered.stdout) if o]
    kinds = ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
    wanted = [o for o in objects if o["kind"] in kinds]
    # The watched namespace's Role and the leader election's (here the same namespace).
    assert sorted(o["kind"] for o in wanted) == sorted((*kinds, "Role", "RoleBinding"))
    return wanted


def token_kubeconfig(cluster, namespace: str, service_account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount (a short-lived bound token)."""
    token = cluster.kubectl(
        "create", "token", service_account, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    server = dict(admin["clusters"][0]["cluster"])
    if "certificate-authority" in server:  # make a relative CA path absolute
        server["certificate-authority"] = str(
            (Path(cluster.kubeconfig).parent / server["certificate-authority"]).resolve()
        )
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": server}],
                "users": [{"name": service_account, "user": {"token": token}}],
                "contexts": [
                    {
                        "name": "operator",
                        "context": {"cluster": "local", "user": service_account},
                    }
                ],
                "current-context": "operator",
            }
        )
    )
    return path


def can_i(cluster, kubeconfig: Path, *args: str) -> bool:
    result = cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "can-i", *args, check=False)
    return result.stdout.strip() == "yes"


def http_403_errors() -> float:
    from modelserve_operator.metrics import RECONCILE_ERRORS

    return sum(
        sample.value
        for family in RECONCILE_ERRORS.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("error") == "http_403"
    )


@pytest.fixture
def operator_as_chart_account(cluster, crds, namespace, monkeypatch, tmp_path) -> Iterator[dict]:
    apply(cluster, namespace, *chart_rbac(cluster, namespace))
    kubeconfig = token_kubeconfig(cluster, namespace, f"{RELEASE}-modelserve", tmp_path / "kc")
    # The token reaches this namespace only, and grants nothing cluster-wide.
    assert can_i(cluster, kubeconfig, "list", "onlineendpoints.modelserve.io", "-n", namespace)
    assert not can_i(cluster, kubeconfig, "list", "onlineendpoints.modelserve.io", "-n", "default")
    assert not can_i(cluster, kubeconfig, "list", "secrets", "--all-namespaces")
    # Its own Lease only (leader election), where the release lives.
    lease = f"leases.coordination.k8s.io/{RELEASE}-modelserve-leader"
    assert can_i(cluster, kubeconfig, "create", "leases.coordination.k8s.io", "-n", namespace)
    assert can_i(cluster, kubeconfig, "update", lease, "-n", namespace)
    assert not can_i(cluster, kubeconfig, "update", "leases.coordination.k8s.io/x", "-n", namespace)
    assert not can_i(cluster, kubeconfig, "delete", lease, "-n", namespace)

    from kopf.testing import KopfRunner
    from modelserve_operator.handlers import state

    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("MODELSERVE_WATCH_NAMESPACES", namespace)
    monkeypatch.setenv("MODELSERVE_NODE_SELECTOR", "type=kwok")
    monkeypatch.setenv("MODELSERVE_OPERATOR_METRICS_PORT", str(free_port()))
    state.reset()
    errors_before = http_403_errors()
    runner = KopfRunner(
        ["run", "--standalone", "--namespace", namespace, "--liveness", liveness, "-m", MODULE],
        timeout=60,
    )
    runner.__enter__()
    try:
        yield {"liveness": liveness, "kubeconfig": kubeconfig}
    finally:
        runner.__exit__(None, None, None)
        state.reset()
    # Whatever the test did: no reconcile failed with 403, and Kopf logged no refused call
    # (a namespaced operator does not even try to list namespaces or watch CRDs).
    assert http_403_errors() == errors_before, "reconciles failed with 403 Forbidden"
    forbidden = [line for line in runner.output.splitlines() if REFUSED.search(message(line))]
    assert forbidden == [], "\n".join(forbidden)


def model(name: str, version: str, uri: str, sha256: str) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {
            "modelName": name.rsplit("-", 1)[0],
            "version": version,
            "framework": "sklearn",
            "artifact": {"uri": uri, "sha256": sha256},
        },
    }


def trained_model(name: str) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {
            "modelName": name.rsplit("-", 1)[0],
            "version": "1",
            "framework": "sklearn",
            "artifact": {"uri": "pvc://models/trained/1/model.joblib"},
            "training": {
                "task": "classification",
                "data": {"dataset": "iris"},
                "estimator": {"className": "sklearn.linear_model.LogisticRegression"},
            },
        },
    }


def models_claim() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "models"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def endpoint(deployments: dict[str, dict], traffic: dict[str, int]) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "iris"},
        "spec": {
            "authMode": "key",
            "traffic": traffic,
            "deployments": [{"name": n, **spec} for n, spec in deployments.items()],
        },
    }


def test_the_charts_namespaced_rbac_is_enough_for_the_whole_operator(
    cluster, namespace, operator_as_chart_account, iris_artifact
):
    artifact = iris_artifact
    apply(
        cluster,
        namespace,
        *configmap_model(artifact),
        # A pvc:// artifact whose claim does not exist: the operator must be allowed to look.
        model("remote-1", "1", "pvc://missing-claim/model.joblib", "0" * 64),
    )
    blue = {"model": {"name": "iris", "version": "1"}, "instanceCount": 1}
    green = {
        "model": {"name": "iris", "version": "latest"},
        "autoscale": {"minReplicas": 1, "maxReplicas": 2, "targetCPUUtilizationPercentage": 60},
    }
    apply(cluster, namespace, endpoint({"blue": blue, "green": green}, {"blue": 100, "green": 0}))
    ready = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and condition(e, "Ready").get("status") == "True"
            and e
        ),
        "endpoint iris Ready with the chart's RBAC",
        timeout=120,
    )
    assert ready["status"]["traffic"] == {"blue": 100}
    for kind, name in [
        ("deployment", "iris-blue"),
        ("deployment", "iris-green"),
        ("deployment", "iris"),
        ("horizontalpodautoscaler", "iris-green"),
        ("poddisruptionbudget", "iris-blue"),
        ("secret", "iris-keys"),
        ("configmap", "iris-router"),
        ("networkpolicy", "iris-scoring"),
        ("networkpolicy", "iris-router"),
    ]:
        assert get(cluster, namespace, kind, name) is not None, f"{kind}/{name} was not applied"
    remote = cluster.wait_for(
        lambda: condition(get(cluster, namespace, "model", "remote-1"), "Ready").get("reason"),
        "Model remote-1 checked",
    )
    assert remote == "ArtifactNotFound"

    # A trained Model: its claim is looked up, its Job created and read back, its pods listed.
    apply(cluster, namespace, models_claim(), trained_model("trained-1"))
    job = cluster.wait_for(
        lambda: get(cluster, namespace, "job", "trained-1-train"), "the training Job"
    )
    assert job["metadata"]["ownerReferences"][0]["kind"] == "Model"
    assert get(cluster, namespace, "networkpolicy", "trained-1-train") is not None
    cluster.wait_for(
        lambda: (
            (get(cluster, namespace, "model", "trained-1") or {}).get("status", {}).get("training")
        ),
        "Model trained-1 to report its training Job",
    )

    # Removing a deployment prunes its children (list + delete).
    apply(cluster, namespace, endpoint({"blue": blue}, {"blue": 100}))
    cluster.wait_for(
        lambda: all(
            get(cluster, namespace, kind, "iris-green") is None
            for kind in ("deployment", "service", "horizontalpodautoscaler", "poddisruptionbudget")
        ),
        "green's children pruned",
    )

    # Monitoring reads a scoring pod through the pod proxy; retraining may create Models and
    # promotion patch the endpoint's spec. The simulated pod cannot answer, but the API
    # server must let the operator ask.
    kubeconfig = operator_as_chart_account["kubeconfig"]
    assert can_i(cluster, kubeconfig, "get", "pods", "--subresource=proxy", "-n", namespace)
    assert can_i(cluster, kubeconfig, "create", "models.modelserve.io", "-n", namespace)
    cluster.kubectl(
        "patch", "onlineendpoint", "iris", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"monitoring": {"enabled": True, "intervalSeconds": 10}}}),
    )  # fmt: skip
    checked = cluster.wait_for(
        lambda: (
            (get(cluster, namespace, "onlineendpoint", "iris") or {})
            .get("status", {})
            .get("monitoring", {})
            .get("deployments")
        ),
        "a monitoring check of iris",
    )
    assert checked[0]["name"] == "blue"
    assert "forbidden" not in checked[0].get("error", "").lower(), checked

    # A scheduled BatchDeployment gets a CronJob; without the schedule, a run Job instead.
    batch = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "BatchDeployment",
        "metadata": {"name": "nightly"},
        "spec": {
            "model": {"name": "iris", "version": "1"},
            "input": {"claimName": "raw", "glob": "data/*.csv"},
            "output": {"claimName": "scored", "path": "predictions"},
            "schedule": "0 3 * * *",
        },
    }
    apply(cluster, namespace, batch)
    cluster.wait_for(lambda: get(cluster, namespace, "cronjob", "nightly"), "the CronJob")
    cluster.kubectl(
        "patch", "batchdeployment", "nightly", "-n", namespace, "--type=json",
        "-p", '[{"op": "remove", "path": "/spec/schedule"}]',
    )  # fmt: skip
    cluster.wait_for(
        lambda: get(cluster, namespace, "cronjob", "nightly") is None, "the CronJob deleted"
    )
    jobs = cluster.wait_for(
        lambda: json.loads(
            cluster.kubectl(
                "get", "jobs", "-n", namespace, "-l", "modelserve.io/batch-deployment=nightly",
                "-o", "json",
            ).stdout
        )["items"],
        "the run's Job",
    )  # fmt: skip
    assert jobs[0]["metadata"]["ownerReferences"][0]["kind"] == "BatchDeployment"

    # The operator's own Events (status changes) are there.
    events = json.loads(
        cluster.kubectl(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=iris",
            "-o", "json",
        ).stdout
    )["items"]  # fmt: skip
    assert any(e.get("source", {}).get("component") == "modelserve-operator" for e in events)

    # The liveness probe reads from a watched namespace: allowed, so it answers 200.
    with urllib.request.urlopen(operator_as_chart_account["liveness"], timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"apiserver": True}
