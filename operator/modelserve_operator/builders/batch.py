"""Children of a BatchDeployment: the Indexed Job of a run, its merge Job, and a CronJob."""

from __future__ import annotations

import hashlib
import posixpath
from typing import Any

from modelserve_api import BatchDeployment
from modelserve_api import constants as c

from ..resolved import ResolvedModel
from .artifact import MODEL_VOLUME, TMP_VOLUME, artifact_source, build_fetch_container
from .common import (
    BuilderSettings,
    container_security_context,
    hardened_pod_spec,
    object_meta,
)

INPUT_DIR = "/var/lib/modelserve/input"
OUTPUT_DIR = "/var/lib/modelserve/output"
INPUT_VOLUME = "input"
OUTPUT_VOLUME = "output"
SCRIPT_VOLUME = "scoring-script"
RUNNER_CONTAINER = "runner"
MERGE_CONTAINER = "merge"

LABEL_BATCH_ROLE = f"{c.GROUP}/batch-role"
LABEL_BATCH_RUN = f"{c.GROUP}/batch-run"
ROLE_RUN = "run"
ROLE_MERGE = "merge"
# Set on every pod of an Indexed Job by the Job controller; the run id is the Job's name.
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"

# Exit codes of `modelserve-scoring batch`/`batch-merge` that another try cannot fix:
# 1 model or digest error, 2 bad flags, 3 error threshold exceeded, 4 parts missing.
PERMANENT_EXIT_CODES = [1, 2, 3, 4]
# Pod-level retries of one index (a killed or evicted pod); mini-batch retries happen inside.
POD_RETRIES_PER_INDEX = 3
MERGE_POD_RETRIES = 3
DEFAULT_REQUESTS = {"cpu": "500m", "memory": "512Mi"}


def run_trigger(batch: BatchDeployment) -> str | None:
    """What asks for a run now: the spec generation and the run annotation.

    With a schedule the CronJob starts runs; then only the annotation starts one by hand.
    """
    annotation = batch.metadata.annotations.get(c.ANNOTATION_RUN, "")
    if batch.spec.schedule:
        return f"annotation={annotation}" if annotation else None
    return f"generation={batch.metadata.generation};annotation={annotation}"


def run_job_name(batch_name: str, trigger: str) -> str:
    """Name of the Indexed Job of one run (also the run id); stable for the same trigger."""
    # "-r" and 7 hex digits fit the 63-character limit under the CRD's 52-character names.
    return f"{batch_name}-r{hashlib.sha256(trigger.encode()).hexdigest()[:7]}"


def merge_job_name(run_id: str) -> str:
    """Name of the Job that merges one run's parts (at most 63 characters)."""
    return f"{run_id}-m"


def batch_labels(batch_name: str, role: str) -> dict[str, str]:
    """Labels of a BatchDeployment's Jobs and pods."""
    return {
        c.LABEL_NAME: "modelserve",
        c.LABEL_MANAGED_BY: c.MANAGED_BY,
        c.LABEL_COMPONENT: c.COMPONENT_BATCH,
        c.LABEL_BATCH_DEPLOYMENT: batch_name,
        LABEL_BATCH_ROLE: role,
    }


def run_dir(batch: BatchDeployment, run_id: str) -> str:
    """Directory of one run inside the mounted output volume."""
    return posixpath.join(OUTPUT_DIR, batch.spec.output.path, run_id)


def _resources() -> dict[str, Any]:
    return {"requests": dict(DEFAULT_REQUESTS)}


def _runner_pod(
    batch: BatchDeployment, model: ResolvedModel, settings: BuilderSettings
) -> dict[str, Any]:
    spec = batch.spec
    run = spec.settings
    source = artifact_source(model.artifact_uri, model.artifact_s3, model.artifact_mlflow)
    image = settings.scoring_image
    volumes: list[dict[str, Any]] = [
        {"name": MODEL_VOLUME, "emptyDir": {}},
        {"name": TMP_VOLUME, "emptyDir": {}},
        {
            "name": INPUT_VOLUME,
            "persistentVolumeClaim": {"claimName": spec.input.claim_name, "readOnly": True},
        },
        {"name": OUTPUT_VOLUME, "persistentVolumeClaim": {"claimName": spec.output.claim_name}},
        *source.volumes,
    ]
    mounts = [
        {"name": MODEL_VOLUME, "mountPath": c.MODEL_DIR, "readOnly": True},
        {"name": TMP_VOLUME, "mountPath": "/tmp"},
        {"name": INPUT_VOLUME, "mountPath": INPUT_DIR, "readOnly": True},
        {"name": OUTPUT_VOLUME, "mountPath": OUTPUT_DIR},
    ]
    # $(RUN_ID) is expanded by the kubelet: a CronJob's Jobs get names only at run time.
    command = [
        "modelserve-scoring",
        "batch",
        "--input-root", INPUT_DIR,
        "--glob", spec.input.glob,
        "--run-dir", posixpath.join(OUTPUT_DIR, spec.output.path, "$(RUN_ID)"),
        "--action", spec.output.action,
        "--mini-batch-size", str(run.mini_batch_size),
        "--instance-count", str(run.instance_count),
        "--max-concurrency", str(run.max_concurrency_per_instance),
        "--max-retries", str(run.max_retries),
        "--retry-timeout-seconds", str(run.retry_timeout_seconds),
        "--error-threshold", str(run.error_threshold),
        "--log-level", run.logging_level,
        "--model-dir", c.MODEL_DIR,
        "--artifact-path", posixpath.join(c.MODEL_DIR, source.file_name),
        "--artifact-sha256", model.artifact_sha256,
        "--runtime", model.runtime,
    ]  # fmt: skip
    if spec.scoring_script is not None:
        script = spec.scoring_script
        volumes.append(
            {
                "name": SCRIPT_VOLUME,
                "configMap": {
                    "name": script.config_map,
                    "items": [{"key": script.key, "path": script.key}],
                },
            }
        )
        mounts.append({"name": SCRIPT_VOLUME, "mountPath": c.SCORING_SCRIPT_DIR, "readOnly": True})
        command += ["--scoring-script", posixpath.join(c.SCORING_SCRIPT_DIR, script.key)]
    fetch = build_fetch_container(
        source,
        model.artifact_sha256,
        image,
        settings.image_pull_policy,
        _resources(),
        container_security_context(),
    )
    runner = {
        "name": RUNNER_CONTAINER,
        "image": image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": command,
        "env": [
            {
                "name": "RUN_ID",
                "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{JOB_NAME_LABEL}']"}},
            },
            # the runner loads the model as a scoring pod does, under the same settings
            {"name": "MODELSERVE_FRAMEWORK", "value": model.framework},
            {"name": "MODELSERVE_LIBRARY_VERSION_POLICY", "value": model.library_version_policy},
        ],
        "resources": _resources(),
        "volumeMounts": mounts,
        "securityContext": container_security_context(),
        # The runner writes its summary there; on a crash the log tail stands in.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    return {
        "metadata": {
            "labels": {
                **batch_labels(batch.metadata.name, ROLE_RUN),
                c.LABEL_MODEL_NAME: model.model_name,
                c.LABEL_MODEL_VERSION: model.version,
            }
        },
        "spec": hardened_pod_spec(
            settings,
            restartPolicy="Never",
            initContainers=[fetch],
            containers=[runner],
            volumes=volumes,
        ),
    }


def _permanent_failures(container: str, action: str) -> dict[str, Any]:
    return {
        "rules": [
            {
                "action": action,
                "onExitCodes": {
                    "containerName": container,
                    "operator": "In",
                    "values": PERMANENT_EXIT_CODES,
                },
            },
            # A pod evicted or preempted is not the run's fault: retry without counting it.
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]
    }


def build_run_job_spec(
    batch: BatchDeployment, model: ResolvedModel, settings: BuilderSettings
) -> dict[str, Any]:
    """spec of a run's Indexed Job: one index per instance, retried per index."""
    instances = batch.spec.settings.instance_count
    return {
        "completionMode": "Indexed",
        "completions": instances,
        "parallelism": instances,
        "backoffLimitPerIndex": POD_RETRIES_PER_INDEX,
        # One index failing for good dooms the merge: stop the others at once.
        "maxFailedIndexes": 0,
        "podFailurePolicy": _permanent_failures(RUNNER_CONTAINER, "FailIndex"),
        "template": _runner_pod(batch, model, settings),
    }


def build_run_job(
    batch: BatchDeployment, model: ResolvedModel, run_id: str, settings: BuilderSettings
) -> dict[str, Any]:
    """The Indexed Job of one run started by the operator (on create, change or annotation)."""
    meta = batch.metadata
    labels = batch_labels(meta.name, ROLE_RUN)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(run_id, meta.namespace, labels),
        "spec": build_run_job_spec(batch, model, settings),
    }


def build_cronjob(
    batch: BatchDeployment, model: ResolvedModel, settings: BuilderSettings
) -> dict[str, Any]:
    """The CronJob that starts a run's Indexed Job on the schedule."""
    meta = batch.metadata
    labels = batch_labels(meta.name, ROLE_RUN)
    assert batch.spec.schedule is not None
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta(meta.name, meta.namespace, labels),
        "spec": {
            "schedule": batch.spec.schedule,
            # Two runs at once would compete for the same input; let the late one wait.
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": build_run_job_spec(batch, model, settings),
            },
        },
    }


def build_merge_job(
    batch: BatchDeployment, run_id: str, settings: BuilderSettings
) -> dict[str, Any]:
    """The Job that merges a run's parts once every index has succeeded.

    Its termination message carries the run's totals, so the operator learns them
    from the pod status without mounting any volume.
    """
    meta = batch.metadata
    spec = batch.spec
    labels = {**batch_labels(meta.name, ROLE_MERGE), LABEL_BATCH_RUN: run_id}
    merge = {
        "name": MERGE_CONTAINER,
        "image": settings.scoring_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": [
            "modelserve-scoring",
            "batch-merge",
            "--run-dir",
            run_dir(batch, run_id),
            "--file-name",
            spec.output.file_name,
            "--action",
            spec.output.action,
            "--error-threshold",
            str(spec.settings.error_threshold),
            "--volume-root",
            OUTPUT_DIR,
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "volumeMounts": [
            {"name": OUTPUT_VOLUME, "mountPath": OUTPUT_DIR},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
        ],
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(merge_job_name(run_id), meta.namespace, labels),
        "spec": {
            "completions": 1,
            "parallelism": 1,
            "backoffLimit": MERGE_POD_RETRIES,
            "podFailurePolicy": _permanent_failures(MERGE_CONTAINER, "FailJob"),
            "template": {
                "metadata": {"labels": labels},
                "spec": hardened_pod_spec(
                    settings,
                    restartPolicy="Never",
                    containers=[merge],
                    volumes=[
                        {
                            "name": OUTPUT_VOLUME,
                            "persistentVolumeClaim": {"claimName": spec.output.claim_name},
                        },
                        {"name": TMP_VOLUME, "emptyDir": {}},
                    ],
                ),
            },
        },
    }
