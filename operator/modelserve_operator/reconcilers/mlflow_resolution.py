"""Resolve a models:/ artifact: the concrete version, its location and its digest.

The first successful resolution is pinned in status.mlflow. Without followAlias it is never
redone for this Model: what pods fetch later must have the pinned directory digest, so a
version or alias that moves, or files that change under it, cannot change what it serves.
With followAlias the alias is looked up again on a period; a move to another version pins
that version's digest instead (status only: the spec, GitOps' own, is never written), and
endpoints roll it out. A move that cannot be pinned leaves the old pin, and what it serves.
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
ALIAS_MOVED = "AliasMoved"


def resolve_mlflow(
    kube: Kube,
    model: Model,
    status: dict[str, Any],
    body: dict[str, Any],
    *,
    default_poll_s: float = 60.0,
) -> tuple[cond.Summary, float | None]:
    """Resolve (or keep, or follow) the pinned MLflow version; the summary and when to look
    again."""
    artifact = model.spec.artifact
    assert artifact.mlflow is not None
    pinned = model.status.mlflow
    if pinned is not None and pinned.sha256:
        status["mlflow"] = pinned.to_wire()
        if not artifact.follows_alias:
            return _resolved(artifact.uri, pinned.version, pinned.sha256), None
        poll_s = float(artifact.mlflow.poll_seconds or default_poll_s)
        return _follow(kube, model, status, body), poll_s
    summary, retry_after = _resolve_first(kube, model, status)
    if artifact.follows_alias and summary.state == "ready":
        retry_after = float(artifact.mlflow.poll_seconds or default_poll_s)
    return summary, retry_after


def _follow(kube: Kube, model: Model, status: dict[str, Any], body: dict[str, Any]) -> cond.Summary:
    """Look the alias up again; pin the version it moved to, or keep the old pin and say why."""
    artifact = model.spec.artifact
    pinned = model.status.mlflow
    assert pinned is not None and artifact.mlflow is not None
    kept = f"; still serving version {pinned.version} (digest {pinned.sha256})"
    server, problem = _registry(kube, model)
    if server is None:
        assert problem is not None
        return cond.failed(problem.reason, str(problem) + kept)
    try:
        resolved = server.resolve(artifact.uri)
        if resolved.version == pinned.version and resolved.download_uri == pinned.download_uri:
            return _resolved(artifact.uri, pinned.version, pinned.sha256)
        # Only a move is worth a download: the digest of the pinned version is known.
        digest = server.download(resolved.download_uri, None)
    except registry.MLflowError as error:
        return cond.failed(error.reason, f"cannot follow {artifact.uri}: {error}{kept}")
    status["mlflow"] = {
        "version": resolved.version,
        "previousVersion": pinned.version,
        "source": resolved.source,
        "downloadURI": resolved.download_uri,
        "sha256": digest,
        "resolvedAt": _now(),
    }
    kube.emit_event(
        body,
        reason=ALIAS_MOVED,
        message=f"{artifact.uri} moved from {pinned.version} to {resolved.version} "
        f"(digest {digest}); endpoints serving this Model roll it out",
        event_type="Normal",
    )
    return _resolved(artifact.uri, resolved.version, digest)


def _registry(
    kube: Kube, model: Model
) -> tuple[registry.Registry | None, registry.MLflowError | None]:
    """A client of the Model's tracking server, signed with its Secret's keys."""
    access = model.spec.artifact.mlflow
    assert access is not None
    credentials: dict[str, str] = {}
    if access.credentials_secret:
        secret = kube.get("v1", "Secret", model.metadata.namespace, access.credentials_secret)
        if secret is None:
            return None, registry.MLflowError(
                CREDENTIALS_NOT_FOUND,
                f"Secret {access.credentials_secret!r} (artifact.mlflow.credentialsSecret) does "
                f"not exist in namespace {model.metadata.namespace!r}",
            )
        credentials = _secret_values(secret)
    return registry.Registry(access.tracking_uri, credentials), None


def _resolve_first(
    kube: Kube, model: Model, status: dict[str, Any]
) -> tuple[cond.Summary, float | None]:
    """The first resolution: the version, its location and the digest pinned from now on."""
    artifact = model.spec.artifact
    assert artifact.mlflow is not None
    server, problem = _registry(kube, model)
    if server is None:
        assert problem is not None
        return cond.failed(problem.reason, str(problem)), RETRY_S
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
        "resolvedAt": _now(),
    }
    return _resolved(artifact.uri, resolved.version, digest), None


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
