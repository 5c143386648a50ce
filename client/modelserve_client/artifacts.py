"""Where a model file goes (ConfigMap or claim), the names used, and the Model manifest: no I/O."""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelserve_api import constants as c

from .errors import ModelserveError
from .progress import human_bytes

# A ConfigMap holds at most 1 MiB in all; keep room for the object's metadata.
CONFIGMAP_LIMIT_BYTES = 900 * 1024
ARTIFACT_LABEL_MANAGED_BY = "modelserve-cli"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_CONFIGMAP_KEY_BAD = re.compile(r"[^-._a-zA-Z0-9]")
# The values the Model CRD accepts, from the one contract (a copy here would drift).
FRAMEWORKS = c.FRAMEWORKS


@dataclass(frozen=True)
class ArtifactFile:
    """A model file on this machine, with its size and digest."""

    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class ArtifactPlan:
    """Where the artifact will live in the cluster and the URI the Model will name."""

    kind: str  # "configmap" or "pvc"
    target: str  # ConfigMap name or claim name
    inner_path: str  # key in the ConfigMap, or path inside the claim's volume
    uri: str


def read_artifact(path: str | Path) -> ArtifactFile:
    """Size and sha256 of the model file; a missing or unreadable file is a clear error."""
    file = Path(path).expanduser()
    if not file.exists():
        raise ModelserveError(
            f"model file {str(path)!r} does not exist",
            "pass the path of a saved model (for example model.joblib)",
        )
    if not file.is_file():
        raise ModelserveError(
            f"{str(path)!r} is not a file", "pass the saved model file itself, not a directory"
        )
    digest = hashlib.sha256()
    try:
        with file.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except OSError as error:
        raise ModelserveError(f"cannot read model file {str(path)!r}: {error.strerror}") from None
    return ArtifactFile(file, file.stat().st_size, digest.hexdigest())


def check_model_name(name: str) -> None:
    """spec.modelName is a DNS label, as endpoints refer to it by name."""
    if len(name) > 63 or not _DNS_LABEL.match(name):
        raise ModelserveError(
            f"model name {name!r} is not a DNS label",
            "use at most 63 lower-case letters, digits and '-', starting and ending "
            "with a letter or digit (for example iris or churn-model)",
        )


def check_version(version: str) -> None:
    """spec.version is a label value and not 'latest' (endpoints use that word)."""
    if version == "latest":
        raise ModelserveError(
            "version 'latest' is reserved (endpoints use it to follow the newest version)",
            "pick a concrete version such as 1 or 2024-06-01",
        )
    if len(version) > 63 or not _LABEL_VALUE.match(version):
        raise ModelserveError(
            f"version {version!r} is not a valid label value",
            "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a "
            "letter or digit (for example 1, 2.0 or 2024-06-01)",
        )


def check_framework(framework: str) -> None:
    if framework not in FRAMEWORKS:
        raise ModelserveError(
            f"framework {framework!r} is not supported", f"use one of {', '.join(FRAMEWORKS)}"
        )


def model_object_name(name: str, version: str) -> str:
    """Name of the Model object of one version: '<name>-<version>', lower case."""
    object_name = f"{name}-{version}".lower().replace("_", "-")
    if len(object_name) > 253 or not _DNS_SUBDOMAIN.match(object_name):
        raise ModelserveError(
            f"'{name}' version '{version}' gives the object name {object_name!r}, "
            "which Kubernetes does not accept",
            "use a shorter version made of letters, digits, '-' and '.'",
        )
    return object_name


def configmap_key(path: Path) -> str:
    """The ConfigMap key the file is stored under: its name, with unusable characters as '-'."""
    key = _CONFIGMAP_KEY_BAD.sub("-", path.name)
    return key if key.strip(".") else "model"


def default_pvc_path(name: str, version: str, file: Path) -> str:
    """models/<name>/<version>/<file name>: one directory per version, never overwritten."""
    return f"models/{name}/{version}/{configmap_key(file)}"


def check_pvc_path(path: str) -> str:
    """A relative path inside the volume, without '..'; returned normalised."""
    normalised = posixpath.normpath(path)
    if path.startswith("/") or normalised.startswith("..") or normalised in ("", "."):
        raise ModelserveError(
            f"--pvc-path {path!r} must be a file path relative to the volume's root",
            "for example models/iris/1/model.joblib (no leading '/', no '..')",
        )
    return normalised


def plan_artifact(
    artifact: ArtifactFile,
    name: str,
    version: str,
    pvc: str | None = None,
    pvc_path: str | None = None,
) -> ArtifactPlan:
    """ConfigMap when no claim is given and the file fits; the claim whenever one is given."""
    if pvc is None:
        if pvc_path is not None:
            raise ModelserveError("--pvc-path needs --pvc", "pass the claim to copy the file onto")
        if artifact.size > CONFIGMAP_LIMIT_BYTES:
            raise ModelserveError(
                f"{artifact.path.name} is {human_bytes(artifact.size)}, more than a ConfigMap "
                f"holds ({human_bytes(CONFIGMAP_LIMIT_BYTES)})",
                "pass --pvc CLAIM to copy it onto a PersistentVolumeClaim instead",
            )
        target = f"{model_object_name(name, version)}-artifact"
        key = configmap_key(artifact.path)
        return ArtifactPlan("configmap", target, key, f"configmap://{target}/{key}")
    if not _DNS_SUBDOMAIN.match(pvc):
        raise ModelserveError(
            f"--pvc {pvc!r} is not a valid claim name", "pass the name of a PersistentVolumeClaim"
        )
    inner = check_pvc_path(pvc_path) if pvc_path else default_pvc_path(name, version, artifact.path)
    return ArtifactPlan("pvc", pvc, inner, f"pvc://{pvc}/{inner}")


def model_labels(name: str, version: str) -> dict[str, str]:
    return {
        c.LABEL_NAME: "modelserve",
        c.LABEL_MANAGED_BY: ARTIFACT_LABEL_MANAGED_BY,
        c.LABEL_MODEL_NAME: name,
        c.LABEL_MODEL_VERSION: version,
    }


def build_model(
    name: str,
    version: str,
    plan: ArtifactPlan,
    sha256: str,
    framework: str = "sklearn",
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The Model object registering one version."""
    return model_manifest(
        name, version, framework, {"uri": plan.uri, "sha256": sha256}, description, tags
    )


def model_manifest(
    name: str,
    version: str,
    framework: str,
    artifact: dict[str, Any],
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Model object with the CLI's name and labels, whatever its artifact's source."""
    spec: dict[str, Any] = {
        "modelName": name,
        "version": version,
        "framework": framework,
        "artifact": artifact,
    }
    if description:
        spec["description"] = description
    if tags:
        spec["tags"] = dict(tags)
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_MODEL,
        "metadata": {
            "name": model_object_name(name, version),
            "labels": model_labels(name, version),
        },
        "spec": spec,
    }


def build_artifact_configmap(
    plan: ArtifactPlan, payload_b64: str, name: str, version: str
) -> dict[str, Any]:
    """The ConfigMap that carries a small artifact in binaryData."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": plan.target, "labels": model_labels(name, version)},
        "binaryData": {plan.inner_path: payload_b64},
    }


def configmap_registration(
    payload: bytes,
    name: str,
    version: str,
    file_name: str = "model.joblib",
    framework: str = "sklearn",
    description: str | None = None,
) -> list[dict[str, Any]]:
    """The ConfigMap and Model that `modelserve model register` makes of a small file's bytes.

    Pure, so that the walk-through, the benchmarks and the tests register their sample models
    exactly as the product does, instead of writing the manifests again by hand.
    """
    check_model_name(name)
    check_version(version)
    check_framework(framework)
    artifact = ArtifactFile(Path(file_name), len(payload), hashlib.sha256(payload).hexdigest())
    plan = plan_artifact(artifact, name, version)
    return [
        build_artifact_configmap(plan, base64.b64encode(payload).decode(), name, version),
        build_model(name, version, plan, artifact.sha256, framework, description),
    ]


def owner_reference(model: dict[str, Any]) -> dict[str, Any]:
    """Makes the artifact go when its Model is deleted (garbage collection)."""
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND_MODEL,
        "name": model["metadata"]["name"],
        "uid": model["metadata"]["uid"],
    }


def parse_pairs(items: list[str] | None, option: str) -> dict[str, str]:
    """['a=1', 'b=2'] -> {'a': '1', 'b': '2'}; an item without '=' names the option."""
    pairs: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ModelserveError(
                f"{option} {item!r} is not KEY=VALUE", f"write {option} key=value"
            )
        pairs[key] = value
    return pairs
