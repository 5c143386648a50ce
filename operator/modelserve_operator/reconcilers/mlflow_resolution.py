"""Resolve a models:/ artifact once: the concrete version, its location and its digest.

The first successful resolution is pinned in status.mlflow and never redone for this Model:
what pods fetch later must have the pinned directory digest, so a version or alias that
moves, or files that change under it, cannot change what this Model serves.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from modelserve_api import Model
from modelserve_api import conditions as cond
from modelserve_api import mlflow_registry as registry

from ..kube import Kube

# A server that is down, or a model or alias not registered yet, is asked again this often.
RETRY_S = 30.0
CREDENTIALS_NOT_FOUND = "MLflowCredentialsNotFound"


def resolve_mlflow(
    kube: Kube, model: Model, status: dict[str, Any]
) -> tuple[cond.Summary, float | None]:
    """Resolve (or keep) the pinned MLflow version; the summary and when to look again."""
    artifact = model.spec.artifact
    assert artifact.mlflow is not None
    pinned = model.status.mlflow
    if pinned is not None and pinned.sha256:
        status["mlflow"] = pinned.to_wire()
        return _resolved(artifact.uri, pinned.version, pinned.sha256), None
    credentials: dict[str, str] = {}
    secret_name = artifact.mlflow.credentials_secret
    if secret_name:
        secret = kube.get("v1", "Secret", model.metadata.namespace, secret_name)
        if secret is None:
            return cond.failed(
                CREDENTIALS_NOT_FOUND,
                f"Secret {secret_name!r} (artifact.mlflow.credentialsSecret) does not exist in "
                f"namespace {model.metadata.namespace!r}",
            ), RETRY_S
        credentials = _secret_values(secret)
    server = registry.Registry(artifact.mlflow.tracking_uri, credentials)
    try:
        resolved = server.resolve(artifact.uri)
        digest = server.download(resolved.download_uri, None)
    except registry.MLflowError as error:
        return cond.failed(error.reason, f"cannot resolve {artifact.uri}: {error}"), RETRY_S
    if artifact.sha256 and artifact.sha256.lower() != digest:
        return cond.failed(
            registry.DIGEST_MISMATCH,
            f"spec.artifact.sha256 is {artifact.sha256.lower()} but the directory of "
            f"{artifact.uri} (version {resolved.version}) has digest {digest}; it will not be "
            "loaded",
        ), None
    status["mlflow"] = {
        "version": resolved.version,
        "source": resolved.source,
        "downloadURI": resolved.download_uri,
        "sha256": digest,
        "resolvedAt": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return _resolved(artifact.uri, resolved.version, digest), None


def _resolved(uri: str, version: str, digest: str) -> cond.Summary:
    return cond.ready(
        "MLflowResolved",
        f"{uri} resolved to version {version}; each scoring pod verifies the directory digest "
        f"{digest}",
    )


def _secret_values(secret: dict[str, Any]) -> dict[str, str]:
    """The Secret's MLflow keys, decoded (a key that is not base64 text is left out)."""
    values = {}
    for key in (registry.TOKEN_KEY, registry.USERNAME_KEY, registry.PASSWORD_KEY):
        raw = (secret.get("data") or {}).get(key)
        if raw is None:
            continue
        try:
            values[key] = base64.b64decode(raw, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue
    return values
