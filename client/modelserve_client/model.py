"""Register a model version: digest, artifact into the cluster, the Model object, its readiness."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelserve_api import constants as c

from . import artifacts
from .errors import ModelserveError
from .kube import Kube, core_path, modelserve_path
from .progress import ConsoleProgress, Progress, human_bytes
from .upload import DEFAULT_UPLOADER_IMAGE, upload_to_claim
from .waiting import readiness, wait_ready

DEFAULT_WAIT_S = 300.0


@dataclass
class Model:
    """One registered version (a Model object) in a namespace."""

    object_name: str
    namespace: str
    connection: Kube

    @classmethod
    def register(
        cls,
        path: str | Path,
        *,
        name: str,
        version: str,
        namespace: str | None = None,
        framework: str = "sklearn",
        description: str | None = None,
        tags: dict[str, str] | None = None,
        pvc: str | None = None,
        pvc_path: str | None = None,
        uploader_image: str = DEFAULT_UPLOADER_IMAGE,
        node_selector: dict[str, str] | None = None,
        wait: bool = False,
        timeout: float = DEFAULT_WAIT_S,
        connection: Kube | None = None,
        progress: Progress | None = None,
    ) -> Model:
        """Store the file in the cluster and create its Model; with `wait`, until it is Ready.

        Small files go into a ConfigMap; with `pvc` (needed above ~900 KiB) the file is
        copied onto that PersistentVolumeClaim. Registering the same file again is a no-op.
        """
        progress = progress or ConsoleProgress()
        artifacts.check_model_name(name)
        artifacts.check_version(version)
        artifacts.check_framework(framework)
        artifact = artifacts.read_artifact(path)
        # Decided before touching the cluster: a file that fits nowhere fails at once.
        plan = artifacts.plan_artifact(artifact, name, version, pvc, pvc_path)
        manifest = artifacts.build_model(
            name, version, plan, artifact.sha256, framework, description, tags
        )
        kube = connection or Kube.connect()
        namespace = namespace or kube.default_namespace
        kube.require_namespace(namespace)
        object_name = manifest["metadata"]["name"]
        model = cls(object_name, namespace, kube)
        progress.step(
            f"{artifact.path.name}: {human_bytes(artifact.size)}, sha256 {artifact.sha256}"
        )

        existing = model._existing_registration(name, version, artifact.sha256)
        if existing is not None:
            model.object_name = existing["metadata"]["name"]
            progress.step(
                f"{name} version {version} is already registered as Model "
                f"{model.object_name} with this file; nothing to do"
            )
        else:
            if plan.kind == "configmap":
                model._store_in_configmap(artifact, plan, name, version, progress)
            else:
                upload_to_claim(
                    kube, namespace, artifact, plan, progress, uploader_image, node_selector
                )
            created = kube.create(
                modelserve_path(namespace, c.PLURAL_MODELS),
                manifest,
                f"create Model {object_name} in namespace {namespace}",
            )
            progress.step(f"created Model {object_name} ({name} version {version}, {plan.uri})")
            if plan.kind == "configmap":
                # Owned by its Model, the ConfigMap goes when the version is deleted.
                kube.merge_patch(
                    core_path(namespace, "configmaps", plan.target),
                    {"metadata": {"ownerReferences": [artifacts.owner_reference(created)]}},
                    f"set the owner of ConfigMap {plan.target}",
                )
        if wait:
            model.wait_ready(timeout=timeout, progress=progress)
        return model

    @property
    def path(self) -> str:
        return modelserve_path(self.namespace, c.PLURAL_MODELS, self.object_name)

    def get(self) -> dict[str, Any]:
        """The Model object as the API server has it."""
        obj = self.connection.get(self.path, f"read Model {self.object_name}")
        if obj is None:
            raise ModelserveError(
                f"Model {self.object_name!r} does not exist in namespace {self.namespace!r}",
                "register it with `modelserve model register`",
            )
        return obj

    def readiness(self) -> tuple[str, str]:
        """('ready' | 'failed' | 'waiting', the Ready condition's reason and message)."""
        return readiness(self.get())

    def wait_ready(
        self, timeout: float = DEFAULT_WAIT_S, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Block until the operator reports the Model Ready; Stalled or a timeout raise."""
        progress = progress or ConsoleProgress()
        obj = wait_ready(self.connection, self.path, f"Model {self.object_name}", timeout, progress)
        progress.step(f"Model {self.object_name} is Ready")
        return obj

    def _existing_registration(self, name: str, version: str, sha256: str) -> dict | None:
        """The Model already registering this file, None if none; a conflicting one raises."""
        models = self.connection.list(
            modelserve_path(self.namespace, c.PLURAL_MODELS),
            f"list Models in namespace {self.namespace}",
        )
        for obj in models:
            spec = obj.get("spec") or {}
            same_version = spec.get("modelName") == name and spec.get("version") == version
            if same_version:
                digest = (spec.get("artifact") or {}).get("sha256", "").lower()
                if digest == sha256:
                    return obj
                raise ModelserveError(
                    f"{name} version {version} is already registered (Model "
                    f"{obj['metadata']['name']}) with a different file (sha256 {digest})",
                    "a registered version never changes: register the new file as a new --version",
                )
            if obj["metadata"]["name"] == self.object_name:
                raise ModelserveError(
                    f"a Model named {self.object_name!r} already exists for "
                    f"{spec.get('modelName')} version {spec.get('version')}",
                    "delete it or choose another --name/--version",
                )
        return None

    def _store_in_configmap(
        self,
        artifact: artifacts.ArtifactFile,
        plan: artifacts.ArtifactPlan,
        name: str,
        version: str,
        progress: Progress,
    ) -> None:
        payload = artifact.path.read_bytes()
        if hashlib.sha256(payload).hexdigest() != artifact.sha256:
            raise ModelserveError(
                f"{artifact.path} changed while it was being registered", "run the command again"
            )
        body = artifacts.build_artifact_configmap(
            plan, base64.b64encode(payload).decode(), name, version
        )
        path = core_path(self.namespace, "configmaps", plan.target)
        progress.step(f"uploading {human_bytes(artifact.size)} into ConfigMap {plan.target} ...")
        current = self.connection.get(path, f"read ConfigMap {plan.target}")
        if current is None:
            self.connection.create(
                core_path(self.namespace, "configmaps"), body, f"create ConfigMap {plan.target}"
            )
            return
        # Left over from a registration that stopped before its Model was created?
        labels = current["metadata"].get("labels") or {}
        if labels.get(c.LABEL_MANAGED_BY) != artifacts.ARTIFACT_LABEL_MANAGED_BY or current[
            "metadata"
        ].get("ownerReferences"):
            raise ModelserveError(
                f"ConfigMap {plan.target!r} already exists and is not a leftover of this command",
                "delete it, or register under another --name/--version",
            )
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        self.connection.replace(path, body, f"replace ConfigMap {plan.target}")
