"""BatchDeployment on the local control plane: CRD validation, the run's Jobs and the status."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from cluster_objects import condition, configmap_model, get
from kstatus import kstatus

REPO = Path(__file__).resolve().parents[2]


def wait_for(check, what: str, timeout: float = 90.0):
    """Poll until truthy; fail at the deadline with what was last seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}")


def kubectl_apply(cluster, namespace: str, *documents: dict) -> None:
    text = yaml.safe_dump_all(documents)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_text=text)


@pytest.fixture
def iris_model(cluster, namespace, iris_artifact: bytes) -> None:
    kubectl_apply(cluster, namespace, *configmap_model(iris_artifact))


def batch_deployment(**spec) -> dict:
    body = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "BatchDeployment",
        "metadata": {"name": "nightly"},
        "spec": {
            "model": {"name": "iris", "version": "1"},
            "input": {"claimName": "raw", "glob": "data/*.csv"},
            "output": {"claimName": "scored", "path": "predictions"},
            "settings": {"instanceCount": 2, "miniBatchSize": 5},
        },
    }
    body["spec"].update(spec)
    return body


def run_jobs(cluster, namespace: str) -> list[dict]:
    result = cluster.kubectl(
        "get", "jobs", "-n", namespace, "-l", "modelserve.io/batch-role=run", "-o", "json"
    )
    return json.loads(result.stdout)["items"]


def last_run(cluster, namespace: str, result: str, runs: int = 1):
    def check():
        obj = get(cluster, namespace, "batchdeployment", "nightly")
        history = (obj or {}).get("status", {}).get("runs", [])
        if len(history) >= runs and history[-1].get("result") == result:
            return obj
        return None

    return wait_for(check, f"run number {runs} of nightly to be {result}")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"settings": {"miniBatchSize": -1}}, "spec.settings.miniBatchSize", "should be greater"),
        (
            {"output": {"claimName": "scored", "path": "../../etc"}},
            "spec.output.path",
            "relative inside the volume",
        ),
        (
            {"output": {"claimName": "scored", "path": "/etc"}},
            "spec.output.path",
            "relative inside the volume",
        ),
    ],
    ids=["negative-mini-batch", "path-escapes-volume", "absolute-path"],
)
def test_the_api_server_refuses_bad_batch_specs(cluster, crds, namespace, change, field, message):
    body = batch_deployment(**change)
    refused = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump(body), check=False
    )
    assert refused.returncode != 0
    assert field in refused.stderr and message in refused.stderr, refused.stderr
    assert get(cluster, namespace, "batchdeployment", "nightly") is None


def test_a_run_starts_on_create_then_merges_and_reports_in_status(
    cluster, namespace, operator, batch_claims, iris_model
):
    kubectl_apply(cluster, namespace, batch_deployment())
    jobs = wait_for(lambda: run_jobs(cluster, namespace), "the run's Indexed Job")
    assert len(jobs) == 1
    job = jobs[0]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    assert job["spec"]["backoffLimitPerIndex"] >= 1
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in job["spec"]["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == {"raw", "scored"}
    run_id = job["metadata"]["name"]

    # The simulated nodes complete both indexes; the merge Job follows, then the status.
    done = last_run(cluster, namespace, "Succeeded")
    merge = get(cluster, namespace, "job", f"{run_id}-m")
    assert merge is not None and merge["metadata"]["labels"]["modelserve.io/batch-run"] == run_id
    run = done["status"]["runs"][-1]
    assert run["id"] == run_id
    assert run["outputPath"] == f"predictions/{run_id}/predictions.csv"
    assert run["startTime"] and run["endTime"]
    assert condition(done, "Ready")["status"] == "True"
    assert condition(done, "Ready")["reason"] == "RunSucceeded"
    assert kstatus(done) == "Current"
    assert done["status"]["observedGeneration"] == done["metadata"]["generation"]
    table = cluster.kubectl("get", "batchdeployment", "nightly", "-n", namespace).stdout
    assert "Succeeded" in table and "iris" in table

    # The run annotation starts another run (the spec is unchanged).
    cluster.kubectl(
        "annotate", "batchdeployment", "nightly", "-n", namespace, "modelserve.io/run=2"
    )
    again = last_run(cluster, namespace, "Succeeded", runs=2)
    ids = [r["id"] for r in again["status"]["runs"]]
    assert ids[0] == run_id and ids[1] != run_id
    assert len(run_jobs(cluster, namespace)) == 2


def test_a_schedule_makes_a_cronjob_and_removing_it_deletes_the_cronjob(
    cluster, namespace, operator, batch_claims, iris_model
):
    kubectl_apply(cluster, namespace, batch_deployment(schedule="0 2 * * *"))
    cronjob = wait_for(
        lambda: get(cluster, namespace, "cronjob", "nightly"), "the CronJob of a scheduled run"
    )
    assert cronjob["spec"]["schedule"] == "0 2 * * *"
    assert cronjob["spec"]["jobTemplate"]["spec"]["completionMode"] == "Indexed"
    obj = wait_for(
        lambda: (
            (b := get(cluster, namespace, "batchdeployment", "nightly"))
            and condition(b, "Ready").get("reason") == "Scheduled"
            and b
        ),
        "nightly Ready as Scheduled",
    )
    assert not run_jobs(cluster, namespace), "a scheduled deployment must not run on create"
    assert obj["metadata"]["name"] == "nightly"
    kubectl_apply(cluster, namespace, batch_deployment())
    wait_for(lambda: get(cluster, namespace, "cronjob", "nightly") is None, "CronJob deleted")


def test_a_model_that_does_not_exist_is_reported_and_its_arrival_starts_the_run(
    cluster, namespace, operator, batch_claims, request
):
    kubectl_apply(cluster, namespace, batch_deployment(model={"name": "absent", "version": "1"}))
    obj = wait_for(
        lambda: (
            (b := get(cluster, namespace, "batchdeployment", "nightly"))
            and condition(b, "Degraded").get("status") == "True"
            and b
        ),
        "nightly Degraded",
    )
    assert condition(obj, "Ready")["reason"] == "ModelNotResolved"
    assert "absent" in condition(obj, "Ready")["message"]
    assert run_jobs(cluster, namespace) == []
    kubectl_apply(cluster, namespace, batch_deployment())
    request.getfixturevalue("iris_model")  # the Model is registered only now
    last_run(cluster, namespace, "Succeeded")
