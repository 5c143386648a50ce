"""The BatchDeployment's Job, merge Job and CronJob builders: pure functions, no cluster."""

from __future__ import annotations

import dataclasses
from typing import Any

from modelserve_api import parse_batch_deployment
from modelserve_operator.builders.batch import (
    INPUT_DIR,
    build_cronjob,
    build_merge_job,
    build_run_job,
    merge_job_name,
    run_job_name,
    run_trigger,
)
from modelserve_operator.builders.common import BuilderSettings
from modelserve_operator.resolved import ResolvedModel

SHA = "cd" * 32
MODEL = ResolvedModel(
    model_name="churn",
    version="3",
    framework="sklearn",
    runtime="sklearn",
    artifact_uri="pvc://models/churn/model.joblib",
    artifact_sha256=SHA,
)


def batch(name: str = "nightly", annotations: dict[str, str] | None = None, **spec: Any):
    body = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "BatchDeployment",
        "metadata": {
            "name": name,
            "namespace": "ml",
            "uid": "bd-uid",
            "generation": 2,
            "annotations": annotations or {},
        },
        "spec": {
            "model": {"name": "churn", "version": "3"},
            "input": {"claimName": "raw", "glob": "in/*.csv"},
            "output": {"claimName": "scored", "path": "out"},
            "settings": {"instanceCount": 3, "miniBatchSize": 4, "errorThreshold": 5},
            **spec,
        },
    }
    return parse_batch_deployment(body)


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_run_job_is_indexed_one_index_per_instance_with_per_index_retries():
    job = build_run_job(batch(), MODEL, "nightly-rabc1234", BuilderSettings())
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 3
    assert spec["backoffLimitPerIndex"] >= 1
    assert spec["maxFailedIndexes"] == 0
    rule = spec["podFailurePolicy"]["rules"][0]
    assert rule["action"] == "FailIndex" and 3 in rule["onExitCodes"]["values"]
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    runner = pod["containers"][0]
    command = runner["command"]
    assert command[:2] == ["modelserve-scoring", "batch"]
    assert flag(command, "--instance-count") == "3"
    assert flag(command, "--mini-batch-size") == "4"
    assert flag(command, "--error-threshold") == "5"
    assert flag(command, "--artifact-sha256") == SHA
    # the Model's runtime choice, as its online pods make it
    assert flag(command, "--runtime") == MODEL.runtime == "sklearn"
    assert flag(command, "--run-dir").endswith("/out/$(RUN_ID)")
    env = {e["name"]: e for e in runner["env"]}
    assert "job-name" in env["RUN_ID"]["valueFrom"]["fieldRef"]["fieldPath"]
    fetch = pod["initContainers"][0]
    assert flag(fetch["command"], "--sha256") == SHA


def test_run_pods_load_the_model_under_the_models_library_version_policy():
    strict = dataclasses.replace(MODEL, library_version_policy="strict")
    job = build_run_job(batch(), strict, "nightly-rabc1234", BuilderSettings())
    runner = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in runner["env"]}
    assert env["MODELSERVE_LIBRARY_VERSION_POLICY"] == "strict"
    assert env["MODELSERVE_FRAMEWORK"] == "sklearn"


def test_run_pods_mount_input_read_only_and_run_as_non_root():
    job = build_run_job(batch(), MODEL, "nightly-rabc1234", BuilderSettings())
    pod = job["spec"]["template"]["spec"]
    claims = {
        v["persistentVolumeClaim"]["claimName"]: v["persistentVolumeClaim"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims["raw"]["readOnly"] is True
    assert "readOnly" not in claims["scored"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts[INPUT_DIR]["readOnly"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_scoring_script_is_mounted_and_passed():
    bd = batch(scoringScript={"configMap": "churn-score", "key": "score.py"})
    pod = build_run_job(bd, MODEL, "nightly-rabc1234", BuilderSettings())["spec"]["template"]
    command = pod["spec"]["containers"][0]["command"]
    assert flag(command, "--scoring-script").endswith("/score.py")
    assert any(v.get("configMap", {}).get("name") == "churn-score" for v in pod["spec"]["volumes"])


def test_run_names_fit_63_characters_and_change_with_each_trigger():
    longest = "b" * 52
    first = run_job_name(longest, run_trigger(batch(longest)))
    assert len(first) <= 63 and len(merge_job_name(first)) <= 63
    again = run_job_name(longest, run_trigger(batch(longest)))
    rerun = run_job_name(longest, run_trigger(batch(longest, {"modelserve.io/run": "2"})))
    assert first == again and rerun != first


def test_a_schedule_makes_a_cronjob_and_only_the_annotation_runs_by_hand():
    scheduled = batch(schedule="0 2 * * *")
    assert run_trigger(scheduled) is None
    assert run_trigger(batch(annotations={"modelserve.io/run": "x"}, schedule="@daily"))
    cronjob = build_cronjob(scheduled, MODEL, BuilderSettings())
    assert cronjob["spec"]["schedule"] == "0 2 * * *"
    assert cronjob["spec"]["jobTemplate"]["spec"]["completionMode"] == "Indexed"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"


def test_merge_job_merges_the_run_dir_into_the_configured_file():
    bd = batch(output={"claimName": "scored", "path": "out", "fileName": "scores.csv"})
    job = build_merge_job(bd, "nightly-rabc1234", BuilderSettings())
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["modelserve-scoring", "batch-merge"]
    assert flag(command, "--run-dir").endswith("/out/nightly-rabc1234")
    assert flag(command, "--file-name") == "scores.csv"
    assert job["metadata"]["name"] == "nightly-rabc1234-m"
    assert job["spec"]["podFailurePolicy"]["rules"][0]["action"] == "FailJob"
