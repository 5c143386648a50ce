"""Reconcile a Model: check its artifact reference (and digest where possible), report Ready."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from .. import conditions as cond
from .. import constants as c
from ..api import SpecError, parse_model
from ..kube import Kube
from .status import write_status


class ModelReconciler:
    """Decides whether a registered Model version may be served."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def reconcile(self, namespace: str, name: str) -> cond.Summary | None:
        """Check the Model and write its status; None when it is gone."""
        body = self.kube.get(c.API_VERSION, c.KIND_MODEL, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        status: dict[str, Any] = {"observedGeneration": body["metadata"].get("generation")}
        try:
            model = parse_model(body)
        except SpecError as error:
            return self._write(body, status, cond.failed("InvalidSpec", str(error)))
        if model.spec.training is not None:
            return self._write(
                body,
                status,
                cond.failed(
                    "TrainingNotSupported",
                    "spec.training is not implemented by this operator version; "
                    "register a trained artifact instead",
                ),
            )
        artifact = model.spec.artifact
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
        return self._write(body, status, summary)

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
        self, body: dict[str, Any], status: dict[str, Any], summary: cond.Summary
    ) -> cond.Summary:
        write_status(self.kube, c.KIND_MODEL, body, status, summary, record_event=False)
        return summary
