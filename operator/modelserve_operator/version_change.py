"""Pure planning of an in-place model change stepped by spec.rollout (docs/rollouts.md).

When Git changes `deployments[].model.version` (or a followed MLflow alias moves), the
deployment's own Deployment keeps its pods on the model they serve, and a candidate
deployment with the new model starts beside it. The rollout then moves the deployment's
share to the candidate step by step, as it moves a share between two spec deployments.
Once promoted, the deployment's Deployment takes the new model, and when it has rolled out
its share comes back to it and the candidate goes: the deployment keeps its name, Service
and HPA throughout. A rolled-back change leaves the old pods where they were. This is
Flagger's primary/canary hand-over, driven by status, never by writing the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelserve_api import constants as c

from .rollout import HANDING_OVER

CANDIDATE_SUFFIX = "next"
ARTIFACT_DIGEST_ENV = "MODELSERVE_ARTIFACT_SHA256"


@dataclass(frozen=True)
class ServedModel:
    """Which model a scoring Deployment's pod template serves."""

    model_name: str
    version: str
    sha256: str


def served_model(deployment: Mapping[str, Any] | None) -> ServedModel | None:
    """The model of a scoring Deployment (as built by builders/scoring.py), or None."""
    if not deployment:
        return None
    template = (deployment.get("spec") or {}).get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    env = {
        e.get("name"): e.get("value")
        for container in containers
        if container.get("name") == "scoring"
        for e in container.get("env") or []
    }
    name, version = labels.get(c.LABEL_MODEL_NAME), labels.get(c.LABEL_MODEL_VERSION)
    if not name or not version:
        return None
    return ServedModel(name, version, str(env.get(ARTIFACT_DIGEST_ENV) or ""))


@dataclass(frozen=True)
class VersionChange:
    """A deployment moving to a new model through a candidate deployment."""

    deployment: str
    candidate: str
    serving: ServedModel  # what the deployment's own pods serve until the hand-over
    wanted: ServedModel
    registry_version: str | None = None  # the MLflow version of `wanted`, when from MLflow

    def status(self) -> dict[str, Any]:
        """Its entry in status.rollout.versionChanges."""
        entry = {
            "deployment": self.deployment,
            "candidate": self.candidate,
            "fromVersion": self.serving.version,
            "toVersion": self.wanted.version,
            "toSha256": self.wanted.sha256,
        }
        if self.registry_version:
            entry["toRegistryVersion"] = self.registry_version
        return entry


def candidate_name(deployment: str, taken: set[str]) -> str:
    """A deployment name for the candidate: `<deployment>-next`, short enough and unused."""
    base = deployment[: c.MAX_DEPLOYMENT_NAME - len(CANDIDATE_SUFFIX) - 2].rstrip("-")
    name = f"{base}-{CANDIDATE_SUFFIX}"
    index = 2
    while name in taken:
        name = f"{base}-{CANDIDATE_SUFFIX}{index}"
        index += 1
    return name


def recorded_changes(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """status.rollout.versionChanges by deployment."""
    return {
        str(entry.get("deployment")): dict(entry)
        for entry in record.get("versionChanges") or []
        if entry.get("deployment") and entry.get("candidate")
    }


def plan_change(
    deployment: str,
    live: Mapping[str, Any] | None,
    desired: Mapping[str, Any],
    serves_traffic: bool,
    record: Mapping[str, Any],
    taken: set[str],
    registry_version: str | None = None,
) -> VersionChange | None:
    """The change one deployment is in, or None when its Deployment may simply be applied.

    A change starts when the live pods serve callers a model other than the one the spec
    now resolves to. It lasts while they do, and through the hand-over after promotion
    (when the deployment's own pods already run the new model).
    """
    wanted = served_model(desired)
    serving = served_model(live)
    if wanted is None or serving is None:
        return None
    recorded = recorded_changes(record).get(deployment)
    wanted_recorded = recorded is not None and recorded.get("toSha256") == wanted.sha256
    if record.get("phase") == HANDING_OVER and wanted_recorded:
        assert recorded is not None
        old = ServedModel(serving.model_name, str(recorded.get("fromVersion") or ""), "")
        return VersionChange(deployment, str(recorded["candidate"]), old, wanted, registry_version)
    if serving == wanted or not serves_traffic:
        return None
    name = str(recorded["candidate"]) if recorded else candidate_name(deployment, taken)
    return VersionChange(deployment, name, serving, wanted, registry_version)
