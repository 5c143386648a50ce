"""A Model's training Job: `modelserve-scoring train` fits, gates and writes the artifact."""

from __future__ import annotations

import hashlib
import json
import posixpath
from typing import Any

from modelserve_api import Model, training
from modelserve_api import constants as c

from .artifact import TMP_VOLUME
from .common import (
    BuilderSettings,
    container_security_context,
    hardened_pod_spec,
    object_meta,
    owner_reference,
)

COMPONENT_TRAINING = c.COMPONENT_TRAINING
TRAIN_CONTAINER = "train"
OUTPUT_DIR = "/var/lib/modelserve/output"
DATA_DIR = c.TRAINING_DATA_DIR
OUTPUT_VOLUME = "output"
DATA_VOLUME = "data"
# The trainer reads its spec from here: the JSON of Model.spec.training, unchanged.
SPEC_ENV = c.TRAINING_SPEC_ENV
# Exit codes of `modelserve-scoring train` that another try cannot fix (the same spec,
# data and seed give the same result): 2 invalid spec, 3 gate failed, 4 data error.
PERMANENT_EXIT_CODES = list(training.PERMANENT_EXIT_CODES)
# Retries of a pod that died for another reason (exit 1, OOM kill, node loss).
POD_RETRIES = 2
DEFAULT_REQUESTS = {"cpu": "500m", "memory": "512Mi"}
MAX_JOB_NAME = 63
_SUFFIX = "-train"


def training_job_name(model_name: str) -> str:
    """Name of a Model's training Job: ``<model>-train``, shortened with a hash when too long.

    A Job's name becomes a label value on its pods, so it must fit 63 characters.
    """
    name = model_name + _SUFFIX
    if len(name) <= MAX_JOB_NAME:
        return name
    digest = hashlib.sha256(model_name.encode()).hexdigest()[:8]
    stem = model_name[: MAX_JOB_NAME - len(_SUFFIX) - len(digest) - 1].rstrip("-.")
    return f"{stem}-{digest}{_SUFFIX}"


def training_labels(model: Model) -> dict[str, str]:
    """Labels of a training Job and its pod."""
    return {
        c.LABEL_NAME: "modelserve",
        c.LABEL_MANAGED_BY: c.MANAGED_BY,
        c.LABEL_COMPONENT: COMPONENT_TRAINING,
        c.LABEL_MODEL_NAME: model.spec.model_name,
        c.LABEL_MODEL_VERSION: model.spec.version,
    }


def artifact_location(model: Model) -> tuple[str, str]:
    """The claim the trainer writes to and the artifact's path inside it."""
    uri = model.spec.artifact.uri
    scheme, _, rest = uri.partition("://")
    claim, _, inner = rest.partition("/")
    inner = posixpath.normpath(inner) if inner else ""
    if scheme != "pvc" or not claim or not inner or inner.startswith(("..", "/")):
        raise ValueError(
            f"a trained Model's artifact.uri must be pvc://<claim>/<path>, not {uri!r}"
        )
    return claim, inner


def training_spec_json(model: Model) -> str:
    """Model.spec.training as the trainer reads it (defaults filled in, keys sorted)."""
    if model.spec.training is None:
        raise ValueError(f"Model {model.metadata.name!r} has no spec.training")
    return json.dumps(model.spec.training.to_wire(), sort_keys=True, separators=(",", ":"))


def _resources(model: Model) -> dict[str, Any]:
    given = model.spec.training.resources if model.spec.training else None
    requests = dict(given.requests) if given and given.requests else dict(DEFAULT_REQUESTS)
    result: dict[str, Any] = {"requests": {k: str(v) for k, v in requests.items()}}
    if given and given.limits:
        result["limits"] = {k: str(v) for k, v in given.limits.items()}
    return result


def model_owner(model: Model) -> dict[str, Any]:
    """The ownerReference making a Model the controller of what trains it."""
    meta = model.metadata
    return owner_reference(
        {
            "apiVersion": c.API_VERSION,
            "kind": c.KIND_MODEL,
            "metadata": {"name": meta.name, "uid": meta.uid},
        }
    )


def _volumes_and_mounts(model: Model) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    assert model.spec.training is not None
    output_claim, _ = artifact_location(model)
    volumes: list[dict[str, Any]] = [
        {"name": OUTPUT_VOLUME, "persistentVolumeClaim": {"claimName": output_claim}},
        {"name": TMP_VOLUME, "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": OUTPUT_VOLUME, "mountPath": OUTPUT_DIR},
        {"name": TMP_VOLUME, "mountPath": "/tmp"},
    ]
    data_claim = model.spec.training.data.claim_name
    if data_claim is not None:
        # One claim may hold both the data and the artifacts: mount it twice, once read-only.
        data_volume = OUTPUT_VOLUME if data_claim == output_claim else DATA_VOLUME
        if data_volume == DATA_VOLUME:
            volumes.append(
                {
                    "name": DATA_VOLUME,
                    "persistentVolumeClaim": {"claimName": data_claim, "readOnly": True},
                }
            )
        mounts.append({"name": data_volume, "mountPath": DATA_DIR, "readOnly": True})
    return volumes, mounts


def build_training_job(model: Model, settings: BuilderSettings) -> dict[str, Any]:
    """The batch/v1 Job that trains, evaluates and gates ``model`` and writes its artifact.

    The trainer writes the artifact to the path of spec.artifact.uri on its claim (with
    ``<file>.sha256``, metrics.json and baseline.json beside it) only when the gate
    passes, and leaves a JSON summary as the container's termination message. The spec
    is immutable, so the Job is created once and never updated.
    """
    _, inner = artifact_location(model)
    spec_json = training_spec_json(model)
    assert model.spec.training is not None
    volumes, mounts = _volumes_and_mounts(model)
    labels = training_labels(model)
    trainer = {
        "name": TRAIN_CONTAINER,
        "image": settings.scoring_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": [
            "modelserve-scoring",
            "train",
            "--spec-env",
            SPEC_ENV,
            "--output",
            posixpath.join(OUTPUT_DIR, inner),
            "--data-root",
            DATA_DIR,
        ],
        "env": [{"name": SPEC_ENV, "value": spec_json}],
        "resources": _resources(model),
        "volumeMounts": mounts,
        "securityContext": container_security_context(),
        # The trainer writes its summary there; on a crash the log tail stands in.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(
            training_job_name(model.metadata.name), model.metadata.namespace, labels
        ),
        "spec": {
            "completions": 1,
            "parallelism": 1,
            "backoffLimit": POD_RETRIES,
            "activeDeadlineSeconds": model.spec.training.timeout_seconds,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": TRAIN_CONTAINER,
                            "operator": "In",
                            "values": PERMANENT_EXIT_CODES,
                        },
                    },
                    # An evicted or preempted pod is not the run's fault: retry uncounted.
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                ]
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": hardened_pod_spec(
                    settings,
                    restartPolicy="Never",
                    containers=[trainer],
                    volumes=volumes,
                ),
            },
        },
    }
    job["metadata"]["ownerReferences"] = [model_owner(model)]
    return job
