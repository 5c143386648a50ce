"""Locate, fetch and digest-check artifacts; nothing is unpickled before its digest matches."""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from modelserve_api import constants as c

from modelserve_scoring.errors import ArtifactError, ArtifactRefused

ARTIFACT_SUFFIXES = (".joblib", ".pkl", ".pickle")
#: native model files a framework's artifact may also be (besides its joblib'd wrapper)
NATIVE_ARTIFACT_SUFFIXES = {"xgboost": (".json", ".ubj"), "lightgbm": (".txt",)}
# files the trainer writes beside an artifact, never the artifact itself
_COMPANION_FILES = frozenset({"baseline.json"})
_CHUNK = 1 << 20


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def check_digest(actual: str, expected: str, where: str) -> None:
    """Raise ArtifactError unless the digests match (case-insensitive, constant time)."""
    expected = expected.strip().lower().removeprefix("sha256:")
    if len(expected) != 64 or any(ch not in "0123456789abcdef" for ch in expected):
        raise ArtifactError(f"artifact sha256 {expected!r} is not 64 hex digits")
    if not hmac.compare_digest(actual, expected):
        raise ArtifactRefused(
            c.REFUSED_ARTIFACT_DIGEST_MISMATCH,
            f"sha256 mismatch for {where}: expected {expected}, got {actual}; refusing to load it",
        )


def require_digest(expected_sha256: str | None, allow_unverified: bool, what: str) -> None:
    """Refuse to go on without a digest, unless the operator of the server opted out."""
    if expected_sha256 or allow_unverified:
        return
    raise ArtifactError(
        f"no sha256 was given for {what}: unpickling an unverified artifact runs whatever code it "
        "holds, so it is refused. Set MODELSERVE_ARTIFACT_SHA256 (--artifact-sha256), or "
        "--allow-unverified (MODELSERVE_ALLOW_UNVERIFIED=true) to serve it anyway in development"
    )


def read_verified(path: Path, expected_sha256: str | None) -> bytes:
    """Read the artifact once and verify those bytes: what is unpickled is what was hashed."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read artifact {path}: {exc.strerror}") from exc
    if expected_sha256:
        check_digest(sha256_hex(data), expected_sha256, str(path))
    return data


def find_artifact(
    model_dir: Path, framework: str = "sklearn", naming_it: str = "set MODELSERVE_ARTIFACT_PATH"
) -> Path:
    """The single artifact in model_dir (searched recursively): *.joblib/*.pkl, or for xgboost
    also *.json/*.ubj and for lightgbm *.txt (their native formats).

    `naming_it` tells the caller's user how to name the file instead (a variable for the
    server, a flag for the batch runner)."""
    if not model_dir.is_dir():
        raise ArtifactError(f"model directory {model_dir} does not exist")
    suffixes = ARTIFACT_SUFFIXES + NATIVE_ARTIFACT_SUFFIXES.get(framework, ())
    found = sorted(
        p
        for p in model_dir.rglob("*")
        if p.is_file() and p.suffix.lower() in suffixes and p.name not in _COMPANION_FILES
    )
    if len(found) != 1:
        names = ", ".join(str(p) for p in found) or "none"
        wanted = "/".join(f"*{s}" for s in suffixes)
        raise ArtifactError(
            f"expected exactly one {wanted} file in {model_dir} (framework {framework}), found "
            f"{names}; {naming_it}"
        )
    return found[0]


def copy_optional_files(source_dir: Path, names: Sequence[str], dest_dir: Path) -> list[Path]:
    """Copy the named files found next to a local artifact (its baseline.json); absent = skipped.

    They are data read as JSON, never unpickled, so they carry no digest of their own.
    """
    copied = []
    for name in names:
        if not name or Path(name).name != name:
            raise ArtifactError(f"optional file {name!r} must be a plain file name")
        source = source_dir / name
        if not source.is_file():
            continue
        fd, tmp_name = tempfile.mkstemp(prefix=".fetch-", dir=dest_dir)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp_name)
            os.replace(tmp_name, dest_dir / name)
        except OSError as exc:
            raise ArtifactError(f"cannot copy {source}: {exc}") from exc
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
        copied.append(dest_dir / name)
    return copied


def fetch_artifact(
    uri: str,
    expected_sha256: str,
    dest_dir: Path,
    optional_files: Sequence[str] = (),
    timeout_s: float = 60.0,
) -> Path:
    """Copy or download uri into dest_dir; only once its sha256 matches does it get its name.

    `optional_files` next to a local artifact are copied along when present.
    """
    parsed = urllib.parse.urlparse(uri)
    source_dir: Path | None = None
    if parsed.scheme == "s3":
        # boto3 is imported only here: the server never pays for it
        from modelserve_scoring.s3 import fetch_s3

        return fetch_s3(uri, expected_sha256, dest_dir)
    if parsed.scheme == "mlflow-artifacts":
        from modelserve_scoring.mlflow_fetch import fetch_mlflow

        return fetch_mlflow(uri, expected_sha256, dest_dir)
    if parsed.scheme in ("http", "https"):
        name = Path(urllib.parse.unquote(parsed.path)).name
        opener = lambda: urllib.request.urlopen(uri, timeout=timeout_s)  # noqa: E731
    elif parsed.scheme == "file":
        source = Path(urllib.parse.unquote(parsed.path))
        name = source.name
        source_dir = source.parent
        opener = lambda: source.open("rb")  # noqa: E731
    elif parsed.scheme == "" or len(parsed.scheme) == 1:  # a local path (or a Windows drive)
        source = Path(uri)
        name = source.name
        source_dir = source.parent
        opener = lambda: source.open("rb")  # noqa: E731
    else:
        raise ArtifactError(
            f"unsupported artifact URI scheme {parsed.scheme!r} in {uri}; "
            "use s3://, mlflow-artifacts:/, http(s)://, file:// or a local path"
        )
    if not name:
        raise ArtifactError(f"artifact URI {uri} does not end in a file name")
    try:
        final = write_verified(_read_chunks(opener), expected_sha256, dest_dir, name, uri)
    except urllib.error.HTTPError as exc:
        raise _http_refusal(uri, exc) from exc
    except urllib.error.URLError as exc:
        raise ArtifactRefused(
            c.REFUSED_ARTIFACT_UNREACHABLE, f"cannot reach {uri}: {exc.reason}"
        ) from exc
    except OSError as exc:
        raise ArtifactError(f"cannot fetch {uri}: {exc}") from exc
    if source_dir is not None:
        copy_optional_files(source_dir, optional_files, dest_dir)
    return final


def _read_chunks(opener: Callable[[], BinaryIO]) -> Iterator[bytes]:
    with opener() as src:
        while chunk := src.read(_CHUNK):
            yield chunk


def write_verified(
    chunks: Iterable[bytes], expected_sha256: str, dest_dir: Path, name: str, where: str
) -> Path:
    """Write `chunks` to a temporary file in dest_dir while hashing them; the file is named
    `name` only once its sha256 matches, and nothing is left behind on any failure.

    Errors of the source (raised while iterating `chunks`) reach the caller unchanged, so
    each source names its own failures.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=".fetch-", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
        check_digest(digest.hexdigest(), expected_sha256, where)
        final = dest_dir / name
        os.replace(tmp_name, final)
        return final
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _http_refusal(uri: str, error: urllib.error.HTTPError) -> ArtifactError:
    """A named refusal for the answers a wrong URL or missing permission gives."""
    if error.code in (404, 410):
        return ArtifactRefused(c.REFUSED_ARTIFACT_NOT_FOUND, f"{uri} answered HTTP {error.code}")
    if error.code in (401, 403):
        return ArtifactRefused(
            c.REFUSED_ARTIFACT_ACCESS_DENIED, f"{uri} answered HTTP {error.code}"
        )
    return ArtifactError(f"cannot fetch {uri}: HTTP {error.code} {error.reason}")
