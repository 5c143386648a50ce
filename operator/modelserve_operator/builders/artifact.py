"""How a pod gets a model artifact: volumes, mounts and the path to hand to `fetch`."""

from __future__ import annotations

import posixpath
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from .. import constants as c

SOURCE_VOLUME = "artifact-source"


@dataclass(frozen=True)
class ArtifactSource:
    """Where the fetch init container reads the artifact from, and what it needs mounted."""

    fetch_uri: str
    file_name: str
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)


def artifact_source(uri: str) -> ArtifactSource:
    """Translate a Model's artifact URI into what the fetch init container needs.

    pvc:// mounts the claim read-only and fetches the mounted file; configmap:// mounts
    the one key; http(s):// is downloaded directly. Every path is digest-checked by fetch.
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
