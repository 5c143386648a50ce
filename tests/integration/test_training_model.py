"""A Model with spec.training, reconciled by the in-process operator on the real control plane.

The training pods land on simulated (KWOK) nodes, which run nothing: they finish without
the trainer's report. The path where a real trainer reports is tests/e2e/test_training_e2e.py.
"""

from __future__ import annotations

import json

import yaml
from cluster_objects import condition, get

JOB = "iris-1-train"
# A Model waiting for a claim looks again every 15 s (reconcilers/model.py); two looks.
CLAIM_WAIT_S = 60.0


def apply(cluster, namespace: str, *documents: dict) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump_all(documents))


def trained_model(data: dict) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "iris-1"},
        "spec": {
            "modelName": "iris",
            "version": "1",
            "framework": "sklearn",
            "artifact": {"uri": "pvc://models/iris/1/model.joblib"},
            "training": {
                "task": "classification",
                "data": data,
                "estimator": {"className": "sklearn.linear_model.LogisticRegression"},
                "gate": "accuracy >= 0.8",
                "timeoutSeconds": 600,
            },
        },
    }


def claim(name: str, volume: str | None = None) -> dict:
    spec = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
        "storageClassName": "",
    }
    if volume:
        spec["volumeName"] = volume
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": spec,
    }


def model_ready_condition(cluster, namespace: str) -> dict:
    return condition(get(cluster, namespace, "model", "iris-1"), "Ready")


def test_training_starts_once_its_claims_exist_with_the_job_the_spec_describes(
    cluster, namespace, operator
):
    data = {"claimName": "datasets", "path": "iris/iris.csv", "target": "species"}
    apply(cluster, namespace, trained_model(data))

    waiting = cluster.wait_for(
        lambda: (
            (c := model_ready_condition(cluster, namespace)).get("reason") == "ClaimNotFound" and c
        ),
        "the Model to report the missing output claim",
    )
    assert "PersistentVolumeClaim 'models' (spec.artifact.uri) does not exist" in waiting["message"]
    assert waiting["status"] == "False"
    model = get(cluster, namespace, "model", "iris-1")
    assert condition(model, "Progressing")["status"] == "True"
    assert get(cluster, namespace, "job", JOB) is None

    apply(cluster, namespace, claim("models"))
    waiting = cluster.wait_for(
        lambda: (
            "datasets" in (c := model_ready_condition(cluster, namespace)).get("message", "") and c
        ),
        "the Model to report the missing data claim",
        timeout=CLAIM_WAIT_S,
    )
    assert "'datasets' (spec.training.data.claimName)" in waiting["message"]
    assert get(cluster, namespace, "job", JOB) is None

    apply(cluster, namespace, claim("datasets"))
    job = cluster.wait_for(
        lambda: get(cluster, namespace, "job", JOB), "the training Job", timeout=CLAIM_WAIT_S
    )
    model = get(cluster, namespace, "model", "iris-1")
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "Model",
        "iris-1",
        model["metadata"]["uid"],
    )
    assert owner["controller"] is True
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "training"
    assert job["spec"]["activeDeadlineSeconds"] == 600
    (rule, _) = job["spec"]["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob" and rule["onExitCodes"]["values"] == [2, 3, 4]
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"type": "kwok"}
    (container,) = pod["containers"]
    assert container["image"] == "modelserve/scoring:dev"
    assert container["command"] == [
        "modelserve-scoring", "train", "--spec-env", "MODELSERVE_TRAINING_SPEC",
        "--output", "/var/lib/modelserve/output/iris/1/model.joblib",
        "--data-root", "/var/lib/modelserve/data",
    ]  # fmt: skip
    env = {item["name"]: item["value"] for item in container["env"]}
    handed_over = json.loads(env["MODELSERVE_TRAINING_SPEC"])
    stored = model["spec"]["training"]  # as the API server keeps it, defaults filled in
    for key in ("task", "data", "estimator", "gate", "split", "timeoutSeconds"):
        assert handed_over[key] == stored[key], key
    volumes = {
        v["name"]: v["persistentVolumeClaim"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert volumes == {
        "output": {"claimName": "models"},
        "data": {"claimName": "datasets", "readOnly": True},
    }
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
    assert mounts["/var/lib/modelserve/output"] is False
    assert mounts["/var/lib/modelserve/data"] is True

    # The claims are not bound to any volume, so the pod cannot be scheduled: the Model
    # stays Progressing and names the pod and what the scheduler said.
    training = cluster.wait_for(
        lambda: (
            "unbound" in (c := model_ready_condition(cluster, namespace)).get("message", "") and c
        ),
        "the Model to say its training pod waits for its claims",
    )
    assert training["reason"] == "PodUnschedulable"
    assert training["message"].startswith(f"training Job {JOB}: pod {JOB}-"), training
    assert "cannot be scheduled (Unschedulable): 0/" in training["message"], training
    status = get(cluster, namespace, "model", "iris-1")["status"]
    assert status["training"] == {"jobName": JOB, "result": "Running"}


def test_a_job_that_completes_without_a_report_fails_the_model_until_it_is_retrained(
    cluster, namespace, bound_claim, operator
):
    apply(cluster, namespace, trained_model({"dataset": "iris"}))

    # A KWOK pod "succeeds" at once but runs no trainer, so it reports no digest: the
    # Model must not become Ready. The Job's own change is what tells the operator.
    failed = cluster.wait_for(
        lambda: (
            (c := model_ready_condition(cluster, namespace)).get("reason")
            == "TrainingReportMissing"
            and c
        ),
        "the Model to refuse a training run without a report",
    )
    assert failed["status"] == "False"
    assert f"training Job {JOB} completed but left no usable report" in failed["message"]
    model = get(cluster, namespace, "model", "iris-1")
    assert condition(model, "Degraded")["status"] == "True"
    assert model["status"]["training"]["result"] == "Failed"
    assert "artifactSha256" not in model["status"]["training"]
    first_uid = get(cluster, namespace, "job", JOB)["metadata"]["uid"]
    events = json.loads(
        cluster.kubectl(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=iris-1",
            "-o", "json",
        ).stdout
    )["items"]  # fmt: skip
    assert "TrainingReportMissing" in {e["reason"] for e in events}

    # Deleting the Job is how a user asks for another run: the operator makes a new one.
    cluster.kubectl("delete", "job", JOB, "-n", namespace, "--wait=true")
    second = cluster.wait_for(
        lambda: (j := get(cluster, namespace, "job", JOB)) and j["metadata"]["uid"] != first_uid,
        "a new training Job after the old one was deleted",
    )
    assert second
