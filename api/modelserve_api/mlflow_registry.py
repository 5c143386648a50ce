"""MLflow's REST API, the only HTTP code for models:/ artifacts: resolve, list, download.

Shared by the operator (resolves a reference and pins the directory digest) and the fetch
init container (downloads and verifies the directory). Standard library only, every request
with a timeout; failures are MLflowError with a reason the Model's Degraded condition shows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

TIMEOUT_S = 15.0
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 20
# A model directory is a handful of files; this bounds a listing gone wrong.
MAX_FILES = 1000
# REST answers are small; this bounds what a server that is not MLflow can make us hold.
MAX_JSON_BYTES = 4 << 20
_REFERENCE = re.compile(r"^models:/([^/@]+)(?:/([1-9][0-9]*)|@([-_A-Za-z0-9]+))$")
TOKEN_KEY = "MLFLOW_TRACKING_TOKEN"
USERNAME_KEY = "MLFLOW_TRACKING_USERNAME"
PASSWORD_KEY = "MLFLOW_TRACKING_PASSWORD"

# Degraded reasons
MODEL_NOT_FOUND = "MLflowModelNotFound"
FILES_NOT_FOUND = "MLflowFilesNotFound"
ALIAS_NOT_FOUND = "MLflowAliasNotFound"
VERSION_NOT_FOUND = "MLflowVersionNotFound"
UNREACHABLE = "MLflowUnreachable"
ACCESS_DENIED = "MLflowAccessDenied"
UNSUPPORTED_SOURCE = "MLflowUnsupportedSource"
DIGEST_MISMATCH = "ArtifactDigestMismatch"
FAILED = "MLflowRequestFailed"


class MLflowError(Exception):
    """A failure to resolve or fetch, with the reason a condition or termination shows."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Reference:
    """A parsed models:/<name>/<version> or models:/<name>@<alias>."""

    name: str
    version: str | None = None
    alias: str | None = None


@dataclass(frozen=True)
class Resolved:
    """The concrete version a reference names, where MLflow stores it and serves it from."""

    version: str
    source: str
    download_uri: str


def parse_reference(uri: str) -> Reference:
    """Split a models:/ URI; ValueError names what is wrong."""
    match = _REFERENCE.match(uri)
    if not match:
        raise ValueError(f"{uri!r} is not models:/<name>/<version> or models:/<name>@<alias>")
    return Reference(match[1], match[2], match[3])


def auth_headers(credentials: Mapping[str, str]) -> dict[str, str]:
    """Authorization from a Secret's (or environment's) MLflow keys: a token, else basic."""
    token = credentials.get(TOKEN_KEY)
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = credentials.get(USERNAME_KEY), credentials.get(PASSWORD_KEY)
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


class Registry:
    """One tracking server, signed as the given credentials."""

    def __init__(self, tracking_uri: str, credentials: Mapping[str, str] | None = None) -> None:
        self.base = tracking_uri.rstrip("/")
        self.headers = auth_headers(credentials or {})

    def resolve(self, uri: str) -> Resolved:
        """The version, source and download URI of a models:/ reference, as MLflow says now."""
        ref = parse_reference(uri)
        if ref.alias is not None:
            try:
                answer = self._json("registered-models/alias", name=ref.name, alias=ref.alias)
            except MLflowError as error:
                # MLflow answers an unknown alias with 400 INVALID_PARAMETER_VALUE, not 404
                if error.reason in (UNREACHABLE, ACCESS_DENIED):
                    raise
                self._require_model(ref.name)
                raise MLflowError(
                    ALIAS_NOT_FOUND,
                    f"registered model {ref.name!r} has no alias {ref.alias!r} on {self.base} "
                    f"({error})",
                ) from None
            version = str(answer["model_version"]["version"])
        else:
            version = str(ref.version)
        try:
            found = self._json("model-versions/get", name=ref.name, version=version)
        except MLflowError as error:
            if error.reason != VERSION_NOT_FOUND:
                raise
            self._require_model(ref.name)
            raise MLflowError(
                VERSION_NOT_FOUND,
                f"registered model {ref.name!r} has no version {version} on {self.base}",
            ) from None
        where = self._json("model-versions/get-download-uri", name=ref.name, version=version)
        return Resolved(version, found["model_version"].get("source", ""), where["artifact_uri"])

    def download(self, download_uri: str, dest_dir: Path | None) -> str:
        """Stream the model directory at download_uri into dest_dir; its directory digest.

        With dest_dir None the files are only hashed, never stored (how the operator pins the
        digest). Only mlflow-artifacts:/ locations are read, through the tracking server's
        artifact proxy (`mlflow server --serve-artifacts`, the default since MLflow 2).
        """
        root = artifact_path(download_uri)
        files = self._list(root)
        if dest_dir is not None:
            dest_dir.mkdir(parents=True, exist_ok=True)
        manifest = {}
        for relative in files:
            quoted = urllib.parse.quote(f"{root}/{relative}")
            url = f"{self.base}/api/2.0/mlflow-artifacts/artifacts/{quoted}"
            target = dest_dir / relative if dest_dir is not None else None
            manifest[relative] = self._download_file(url, target)
        return manifest_digest(manifest)

    def _list(self, root: str) -> list[str]:
        """Every file under root, relative to it, found by walking the proxy's listings."""
        found: list[str] = []
        pending = [""]
        while pending:
            sub = pending.pop()
            path = f"{root}/{sub}".strip("/") if sub else root
            answer = self._call(f"{self.base}/api/2.0/mlflow-artifacts/artifacts", path=path)
            for entry in answer.get("files", []):
                name = PurePosixPath(entry["path"]).name
                relative = f"{sub}/{name}" if sub else name
                if name in ("", ".", "..") or "\\" in name:
                    raise MLflowError(FAILED, f"the artifact listing of {path} names {name!r}")
                if entry.get("is_dir"):
                    pending.append(relative)
                else:
                    found.append(relative)
            if len(found) > MAX_FILES:
                raise MLflowError(FAILED, f"{root} holds more than {MAX_FILES} files")
        if not found:
            raise MLflowError(FILES_NOT_FOUND, f"no files under {root!r} on {self.base}")
        return sorted(found)

    def _download_file(self, url: str, target: Path | None) -> str:
        """Stream one file to target (through a temporary file), or only hash it; its sha256."""
        digest = hashlib.sha256()
        if target is None:
            with self._open(url, DOWNLOAD_TIMEOUT_S) as answer:
                while chunk := answer.read(_CHUNK):
                    digest.update(chunk)
            return digest.hexdigest()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, self._open(url, DOWNLOAD_TIMEOUT_S) as answer:
                while chunk := answer.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return digest.hexdigest()

    def _require_model(self, name: str) -> None:
        try:
            self._json("registered-models/get", name=name)
        except MLflowError as error:
            if error.reason == VERSION_NOT_FOUND:
                raise MLflowError(
                    MODEL_NOT_FOUND, f"no registered model {name!r} on {self.base}"
                ) from None
            raise

    def _json(self, endpoint: str, **params: str) -> dict[str, Any]:
        return self._call(f"{self.base}/api/2.0/mlflow/{endpoint}", **params)

    def _call(self, url: str, **params: str) -> dict[str, Any]:
        with self._open(f"{url}?{urllib.parse.urlencode(params)}", TIMEOUT_S) as answer:
            body = answer.read(MAX_JSON_BYTES + 1)
        if len(body) > MAX_JSON_BYTES:
            raise MLflowError(FAILED, f"{url} answered more than {MAX_JSON_BYTES} bytes of JSON")
        try:
            return json.loads(body)
        except ValueError:
            raise MLflowError(
                FAILED, f"{url} did not answer JSON; is it an MLflow server?"
            ) from None

    def _open(self, url: str, timeout: float) -> Any:
        request = urllib.request.Request(url, headers=self.headers)
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            raise _refusal(self.base, error) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise MLflowError(
                UNREACHABLE, f"cannot reach MLflow at {self.base}: {reason}"
            ) from None


def artifact_path(download_uri: str) -> str:
    """The proxy path of an mlflow-artifacts:/ URI; other stores are refused by name."""
    parsed = urllib.parse.urlparse(download_uri)
    if parsed.scheme != "mlflow-artifacts":
        raise MLflowError(
            UNSUPPORTED_SOURCE,
            f"MLflow stores this model at {download_uri}; only mlflow-artifacts:/ locations "
            "(a tracking server started with --serve-artifacts) can be fetched",
        )
    path = parsed.path.strip("/")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise MLflowError(UNSUPPORTED_SOURCE, f"download URI {download_uri} has an odd path")
    return path


def manifest_digest(manifest: Mapping[str, str]) -> str:
    """sha256 over "<relative path>\\t<file sha256>\\n" lines sorted by path (POSIX, UTF-8)."""
    lines = "".join(f"{path}\t{manifest[path]}\n" for path in sorted(manifest))
    return hashlib.sha256(lines.encode()).hexdigest()


def directory_digest(directory: Path) -> str:
    """The digest of a directory on disk, as `manifest_digest` computes it for a download."""
    manifest = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        manifest[path.relative_to(directory).as_posix()] = digest.hexdigest()
    return manifest_digest(manifest)


def _refusal(base: str, error: urllib.error.HTTPError) -> MLflowError:
    try:
        said = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        said = {}
    message = " ".join(str(said.get("message") or error.reason).split())[:200]
    code = said.get("error_code", "")
    if error.code == 404 or code == "RESOURCE_DOES_NOT_EXIST":
        return MLflowError(VERSION_NOT_FOUND, f"MLflow at {base} answered 404: {message}")
    if error.code in (401, 403):
        return MLflowError(
            ACCESS_DENIED,
            f"MLflow at {base} answered HTTP {error.code}: check artifact.mlflow.credentialsSecret",
        )
    return MLflowError(FAILED, f"MLflow at {base} answered HTTP {error.code}: {message}")
