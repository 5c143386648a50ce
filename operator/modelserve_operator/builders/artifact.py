"""How a pod gets a model artifact: volumes, mounts and the path to hand to `fetch`."""

from __future__ import annotations

import posixpath
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from modelserve_api import constants as c
from modelserve_api.baseline import BASELINE_FILE

SOURCE_VOLUME = "artifact-source"
# The emptyDir the model is fetched into, and a writable /tmp (the root fs is read-only).
MODEL_VOLUME = "model"
TMP_VOLUME = "tmp"


@dataclass(frozen=True)
class ArtifactSource:
    """Where the fetch init container reads the artifact from, and what it needs mounted."""

    fetch_uri: str
    file_name: str
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    #: files next to the artifact that fetch copies along when present
    optional_files: tuple[str, ...] = ()


def artifact_source(uri: str) -> ArtifactSource:
    """Translate a Model's artifact URI into what the fetch init container needs.

    pvc:// mounts the claim read-only and fetches the mounted file (and the baseline.json
    next to it, when there is one); configmap:// mounts the one key; http(s):// is
    downloaded directly. Every artifact is digest-checked by fetch.
    """
    scheme, _, rest = uri.partition("://")
    if scheme in ("http", "https"):
        path = urllib.parse.unquote(urllib.parse.urlparse(uri).path)
        return ArtifactSource(fetch_uri=uri, file_name=posixpath.basename(path))
    target, _, inner = rest.partition("/")
    if not target or not inner:
        raise ValueError(f"artifact uri {uri!r} must be {scheme}://<name>/<path>")
    if scheme == "pvc":
        inner = posixpath.normpath(inner)
        if inner.startswith(("..", "/")):
            raise ValueError(f"artifact uri {uri!r} leaves the volume")
        return ArtifactSource(
            fetch_uri=posixpath.join(c.ARTIFACT_SOURCE_DIR, inner),
            file_name=posixpath.basename(inner),
            volumes=[
                {
                    "name": SOURCE_VOLUME,
                    "persistentVolumeClaim": {"claimName": target, "readOnly": True},
                }
            ],
            mounts=[{"name": SOURCE_VOLUME, "mountPath": c.ARTIFACT_SOURCE_DIR, "readOnly": True}],
            # The trainer writes it next to the artifact; the scoring server monitors
            # drift against it.
            optional_files=(BASELINE_FILE,),
        )
    if scheme == "configmap":
        return ArtifactSource(
            fetch_uri=posixpath.join(c.ARTIFACT_SOURCE_DIR, inner),
            file_name=inner,
            volumes=[
                {
                    "name": SOURCE_VOLUME,
                    "configMap": {"name": target, "items": [{"key": inner, "path": inner}]},
                }
            ],
            mounts=[{"name": SOURCE_VOLUME, "mountPath": c.ARTIFACT_SOURCE_DIR, "readOnly": True}],
        )
    raise ValueError(f"unsupported artifact uri scheme {scheme!r} in {uri!r}")


def build_fetch_container(
    source: ArtifactSource,
    sha256: str,
    image: str,
    image_pull_policy: str,
    resources: dict[str, Any],
    security_context: dict[str, Any],
) -> dict[str, Any]:
    """The init container that fetches the artifact and verifies its sha256 before any load."""
    optional = [arg for name in source.optional_files for arg in ("--optional-file", name)]
    return {
        "name": "fetch-model",
        "image": image,
        "imagePullPolicy": image_pull_policy,
        "command": [
            "modelserve-scoring",
            "fetch",
            "--uri",
            source.fetch_uri,
            "--sha256",
            sha256,
            "--dest",
            c.MODEL_DIR,
            *optional,
        ],
        "volumeMounts": [
            {"name": MODEL_VOLUME, "mountPath": c.MODEL_DIR},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
            *source.mounts,
        ],
        "resources": resources,
        "securityContext": security_context,
    }
