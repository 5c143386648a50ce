"""Reconcile a Model: check its artifact reference (and digest where possible), or train it."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from modelserve_api import Model, SpecError, parse_model
from modelserve_api import conditions as cond
from modelserve_api import constants as c

from ..builders.common import BuilderSettings
from ..builders.network_policy import build_training_network_policy
from ..builders.training import artifact_location, build_training_job, training_job_name
from ..kube import Kube
from .mlflow_resolution import resolve_mlflow
from .network_policies import keep_network_policy
from .status import owned_by, write_status
from .training_outcome import observe_training, recorded_outcome

# Nothing watches claims (that would need list/watch on every PVC): a Model waiting for
# one looks again this often.
CLAIM_RETRY_S = 15.0
# Pods of one Job run, whatever its name: a Job deleted and made again gets a new uid.
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"


@dataclass(frozen=True)
class ModelOutcome:
    """What one reconcile concluded, and when to look again if nothing will say."""

    summary: cond.Summary
    retry_after: float | None = None


def refused_load(model: Model, summary: cond.Summary) -> cond.Summary:
    """Degraded while scoring pods refuse to load the model, whatever the artifact check said.

    The refusal is recorded in status.runtime by the endpoint path that read it from a pod's
    termination message (one writer per field); this reconciler only reads it.
    """
    runtime = model.status.runtime
    if summary.state != "ready" or runtime is None or not runtime.load_refused:
        return summary
    return cond.failed(
        # a refusal recorded before reasons were recorded was a library version one
        runtime.load_refused_reason or c.REFUSED_LIBRARY_VERSION,
        f"scoring pods of {runtime.reported_by or 'an endpoint'} refuse to load this model: "
        f"{runtime.load_refused}",
    )


class ModelReconciler:
    """Decides whether a registered Model version may be served; trains it when asked to."""

    def __init__(
        self, kube: Kube, settings: BuilderSettings, *, mlflow_poll_seconds: float = 60.0
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.mlflow_poll_seconds = mlflow_poll_seconds

    def reconcile(self, namespace: str, name: str) -> ModelOutcome | None:
        """Check (or train) the Model and write its status; None when it is gone."""
        body = self.kube.get(c.API_VERSION, c.KIND_MODEL, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        status: dict[str, Any] = {"observedGeneration": body["metadata"].get("generation")}
        try:
            model = parse_model(body)
        except SpecError as error:
            return self._write(body, status, ModelOutcome(cond.failed("InvalidSpec", str(error))))
        if model.spec.training is not None:
            outcome = self._train(model, status)
            outcome = ModelOutcome(refused_load(model, outcome.summary), outcome.retry_after)
            # Training takes minutes and ends in a verdict: each step is worth an Event.
            return self._write(body, status, outcome, record_event=True)
        artifact = model.spec.artifact
        if artifact.scheme == "models":
            summary, retry_after = resolve_mlflow(
                self.kube, model, status, body, default_poll_s=self.mlflow_poll_seconds
            )
            return self._write(
                body, status, ModelOutcome(refused_load(model, summary), retry_after)
            )
        scheme, _, rest = artifact.uri.partition("://")
        target, _, inner = rest.partition("/")
        if scheme == "configmap":
            summary = self._check_configmap(namespace, target, inner, artifact.sha256, status)
        elif scheme == "pvc":
            summary = self._check_pvc(namespace, target)
        else:
            summary = cond.ready(
                "ArtifactReferenced",
                "the artifact is downloaded and its sha256 verified by each scoring pod",
            )
        return self._write(body, status, ModelOutcome(refused_load(model, summary)))

    def _train(self, model: Model, status: dict[str, Any]) -> ModelOutcome:
        """Start the training Job once, then record what it reports."""
        namespace = model.metadata.namespace
        job_name = training_job_name(model.metadata.name)
        recorded = model.status.training
        job = self.kube.get("batch/v1", "Job", namespace, job_name)
        if job is None:
            done = recorded_outcome(model, recorded) if recorded else None
            if done is not None:
                # Trained, and the Job was cleaned up: training again would replace an
                # artifact that may be serving. A new version is a new Model.
                return ModelOutcome(done)
            try:
                missing = self._missing_claims(model)
            except ValueError as error:
                return ModelOutcome(cond.failed("InvalidSpec", str(error)))
            if missing:
                return ModelOutcome(cond.progressing("ClaimNotFound", missing), CLAIM_RETRY_S)
            # The trainer accepts no connection; the policy is there before its pod.
            keep_network_policy(
                self.kube,
                self.settings.network,
                build_training_network_policy(model),
                model.metadata.uid,
            )
            # Created, never applied: a Job's pod template is immutable, and the spec that
            # produced it cannot change either.
            job = self.kube.create(build_training_job(model, self.settings)) or self.kube.get(
                "batch/v1", "Job", namespace, job_name
            )
            if job is None:  # deleted again at once; the next event starts over
                return ModelOutcome(cond.progressing("Training", f"creating Job {job_name}"))
        if not owned_by(job, model.metadata.uid):
            return ModelOutcome(self._foreign_job(job, model.metadata.name))
        pods = self.kube.list("v1", "Pod", namespace, f"{JOB_UID_LABEL}={job['metadata']['uid']}")
        observation = observe_training(model, job, pods, recorded)
        status.update(observation.status)
        return ModelOutcome(observation.summary)

    def _missing_claims(self, model: Model) -> str | None:
        """Why the training Job cannot start yet: a claim it mounts does not exist."""
        assert model.spec.training is not None
        output_claim, _ = artifact_location(model)
        claims = [(output_claim, "spec.artifact.uri")]
        data_claim = model.spec.training.data.claim_name
        if data_claim is not None and data_claim != output_claim:
            claims.append((data_claim, "spec.training.data.claimName"))
        for claim, field in claims:
            if (
                self.kube.get("v1", "PersistentVolumeClaim", model.metadata.namespace, claim)
                is None
            ):
                return (
                    f"PersistentVolumeClaim {claim!r} ({field}) does not exist in namespace "
                    f"{model.metadata.namespace!r}; training starts once it is created"
                )
        return None

    def _foreign_job(self, job: dict[str, Any], model_name: str) -> cond.Summary:
        name = job["metadata"]["name"]
        owners = job["metadata"].get("ownerReferences") or []
        if job["metadata"].get("deletionTimestamp") or any(
            ref.get("kind") == c.KIND_MODEL and ref.get("name") == model_name for ref in owners
        ):
            # Left by a deleted Model of the same name; the garbage collector removes it.
            return cond.progressing("Training", f"waiting for the old Job {name} to be deleted")
        return cond.failed(
            "TrainingJobConflict",
            f"a Job named {name} exists that this Model does not own; delete or rename it",
        )

    def _check_configmap(
        self, namespace: str, name: str, key: str, sha256: str, status: dict[str, Any]
    ) -> cond.Summary:
        config_map = self.kube.get("v1", "ConfigMap", namespace, name)
        if config_map is None:
            return cond.progressing("ArtifactNotFound", f"ConfigMap {name!r} does not exist yet")
        if key in (config_map.get("binaryData") or {}):
            payload = base64.b64decode(config_map["binaryData"][key])
        elif key in (config_map.get("data") or {}):
            payload = config_map["data"][key].encode()
        else:
            return cond.failed("ArtifactNotFound", f"ConfigMap {name!r} has no key {key!r}")
        digest = hashlib.sha256(payload).hexdigest()
        status["sizeBytes"] = len(payload)
        if digest != sha256.lower():
            return cond.failed(
                "DigestMismatch",
                f"spec.artifact.sha256 is {sha256.lower()} but ConfigMap {name}/{key} "
                f"has sha256 {digest}; the model will not be loaded",
            )
        return cond.ready("ArtifactVerified", f"sha256 of ConfigMap {name}/{key} matches")

    def _check_pvc(self, namespace: str, claim: str) -> cond.Summary:
        pvc = self.kube.get("v1", "PersistentVolumeClaim", namespace, claim)
        if pvc is None:
            return cond.progressing(
                "ArtifactNotFound", f"PersistentVolumeClaim {claim!r} not found"
            )
        return cond.ready(
            "ArtifactReferenced", f"claim {claim!r} exists; each scoring pod verifies the sha256"
        )

    def _write(
        self,
        body: dict[str, Any],
        status: dict[str, Any],
        outcome: ModelOutcome,
        *,
        record_event: bool = False,
    ) -> ModelOutcome:
        write_status(
            self.kube, c.KIND_MODEL, body, status, outcome.summary, record_event=record_event
        )
        return outcome
