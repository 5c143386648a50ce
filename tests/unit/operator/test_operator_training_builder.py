"""The training Job builder: a pure function from a Model with spec.training to a batch/v1 Job."""

from __future__ import annotations

import json

import pytest
from modelserve_api import parse_model
from modelserve_api.training import PERMANENT_EXIT_CODES
from modelserve_operator.builders.common import BuilderSettings
from modelserve_operator.builders.training import (
    DATA_DIR,
    OUTPUT_DIR,
    SPEC_ENV,
    build_training_job,
    training_job_name,
)
from modelserve_scoring.train import parse_training_spec


def trained(name: str = "churn-4", **training):
    spec = {
        "task": "classification",
        "data": {"claimName": "datasets", "path": "churn/2024-06.csv", "target": "churned"},
        "estimator": {"className": "sklearn.linear_model.LogisticRegression"},
        "gate": "accuracy >= 0.88",
    }
    spec.update(training)
    return parse_model(
        {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "Model",
            "metadata": {"name": name, "namespace": "ml", "uid": "m-uid", "generation": 1},
            "spec": {
                "modelName": "churn",
                "version": "4",
                "framework": "sklearn",
                "artifact": {"uri": "pvc://models/churn/4/model.joblib"},
                "training": spec,
            },
        }
    )


def flag(command, name):
    return command[command.index(name) + 1]


def container(job):
    (only,) = job["spec"]["template"]["spec"]["containers"]
    return only


def test_job_runs_the_trainer_with_the_spec_and_writes_to_the_artifact_path():
    model = trained()
    job = build_training_job(model, BuilderSettings(scoring_image="modelserve/scoring:v9"))
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["name"] == "churn-4-train"
    assert job["metadata"]["namespace"] == "ml"
    trainer = container(job)
    assert trainer["image"] == "modelserve/scoring:v9"
    command = trainer["command"]
    assert command[:2] == ["modelserve-scoring", "train"]
    assert flag(command, "--output") == f"{OUTPUT_DIR}/churn/4/model.joblib"
    assert flag(command, "--data-root") == DATA_DIR
    assert flag(command, "--spec-env") == SPEC_ENV
    (env,) = trainer["env"]
    assert env["name"] == SPEC_ENV
    # The trainer itself accepts what the Job hands it.
    spec = parse_training_spec(json.loads(env["value"]))
    assert spec.gate == "accuracy >= 0.88" and spec.split.test == 0.15


def test_output_claim_is_writable_and_data_claim_read_only():
    job = build_training_job(trained(), BuilderSettings())
    pod = job["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["output"]["persistentVolumeClaim"] == {"claimName": "models"}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "datasets", "readOnly": True}
    mounts = {m["mountPath"]: m for m in container(job)["volumeMounts"]}
    assert mounts[OUTPUT_DIR]["name"] == "output" and not mounts[OUTPUT_DIR].get("readOnly")
    assert mounts[DATA_DIR] == {"name": "data", "mountPath": DATA_DIR, "readOnly": True}
    assert mounts["/tmp"]["name"] == "tmp"  # the root filesystem is read-only


def test_one_claim_for_data_and_artifacts_is_mounted_twice():
    model = trained(data={"claimName": "models", "path": "data/churn.csv", "target": "churned"})
    job = build_training_job(model, BuilderSettings())
    pod = job["spec"]["template"]["spec"]
    assert sorted(v["name"] for v in pod["volumes"]) == ["output", "tmp"]
    mounts = {m["mountPath"]: m for m in container(job)["volumeMounts"]}
    assert mounts[DATA_DIR] == {"name": "output", "mountPath": DATA_DIR, "readOnly": True}


def test_bundled_dataset_needs_no_data_volume():
    job = build_training_job(trained(data={"dataset": "iris"}), BuilderSettings())
    assert DATA_DIR not in {m["mountPath"] for m in container(job)["volumeMounts"]}


def test_job_is_owned_by_the_model_hardened_and_fails_fast_on_permanent_errors():
    job = build_training_job(trained(), BuilderSettings(node_selector=(("type", "real"),)))
    (owner,) = job["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "name": "churn-4",
        "uid": "m-uid",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    spec = job["spec"]
    assert spec["backoffLimit"] == 2
    assert spec["activeDeadlineSeconds"] == 3600
    fail_job = spec["podFailurePolicy"]["rules"][0]
    assert fail_job["action"] == "FailJob"
    assert fail_job["onExitCodes"]["values"] == list(PERMANENT_EXIT_CODES)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"type": "real"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    security = container(job)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert container(job)["terminationMessagePolicy"] == "FallbackToLogsOnError"
    labels = spec["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "training"
    assert labels["modelserve.io/model-version"] == "4"


def test_resources_and_timeout_come_from_the_spec():
    resources = {"requests": {"cpu": 2, "memory": "2Gi"}, "limits": {"memory": "3Gi"}}
    model = trained(resources=resources, timeoutSeconds=900)
    job = build_training_job(model, BuilderSettings())
    assert container(job)["resources"] == {
        "requests": {"cpu": "2", "memory": "2Gi"},
        "limits": {"memory": "3Gi"},
    }
    assert job["spec"]["activeDeadlineSeconds"] == 900


def test_long_model_names_give_job_names_that_fit_a_label():
    long_name = "a" * 60 + ".b-" + "c" * 100
    name = training_job_name(long_name)
    assert len(name) <= 63 and name.endswith("-train")
    assert training_job_name(long_name) == name  # stable: the reconciler finds it again
    assert training_job_name(long_name + "x") != name
    assert training_job_name("iris-3") == "iris-3-train"


def test_a_model_without_training_has_no_job():
    body = trained().model_dump(by_alias=True, exclude_none=True)
    body["spec"].pop("training")
    body["spec"]["artifact"]["sha256"] = "ab" * 32
    with pytest.raises(ValueError, match=r"has no spec\.training"):
        build_training_job(parse_model(body), BuilderSettings())
