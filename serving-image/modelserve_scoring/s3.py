"""Fetch an s3:// artifact with boto3: streamed to disk while hashed, refused by name on failure.

Imported only by `fetch` for an s3:// URI, so neither the server nor any other command loads
boto3. The settings come from the environment the operator gives the fetch init container.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from modelserve_api import constants as c

from modelserve_scoring.artifact import write_verified
from modelserve_scoring.errors import ArtifactError, ArtifactRefused

ADDRESSING_STYLES = ("auto", "path", "virtual")
# Standard retry mode backs off with jitter (at most 1 + 2 + 4 s here) and retries throttling,
# 5xx answers and failed connections; a closed port then fails within seconds, a silent host
# within MAX_ATTEMPTS connect timeouts.
MAX_ATTEMPTS = 4
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60
_CHUNK = 1 << 20

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "AllAccessDisabled",
        "AccountProblem",
        # the web identity exchange with STS
        "InvalidIdentityToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
    }
)
# Server text is quoted only this far: enough for "the region is wrong; expecting ...".
_MAX_SERVER_MESSAGE = 200


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of s3://bucket/key; the key is taken as written (no percent-decoding)."""
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ArtifactError(f"artifact URI {uri} must be s3://<bucket>/<key>")
    return bucket, key


def s3_client(environ: Mapping[str, str] | None = None) -> Any:
    """An S3 client configured from the fetch container's environment."""
    env = os.environ if environ is None else environ
    style = env.get(c.S3_ADDRESSING_ENV) or "auto"
    if style not in ADDRESSING_STYLES:
        raise ArtifactError(f"{c.S3_ADDRESSING_ENV} is {style!r}; use one of auto, path, virtual")
    config = botocore.config.Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        s3={"addressing_style": style},
    )
    return boto3.session.Session().client(
        "s3",
        # None lets boto apply AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, or AWS's own endpoint
        endpoint_url=env.get(c.S3_ENDPOINT_ENV) or None,
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        config=config,
    )


def fetch_s3(uri: str, expected_sha256: str, dest_dir: Path) -> Path:
    """Download s3://bucket/key into dest_dir; it gets its name only once its sha256 matches.

    The object streams through a temporary file in dest_dir (never whole in memory); a
    failed or mismatching download leaves nothing behind.
    """
    bucket, key = parse_s3_uri(uri)
    name = Path(key).name
    if name in ("", ".", ".."):
        raise ArtifactError(f"artifact URI {uri} does not end in a file name")
    client = s3_client()
    where = f"{uri} (endpoint {client.meta.endpoint_url})"
    try:
        chunks = _object_chunks(client, bucket, key)
        return write_verified(chunks, expected_sha256, dest_dir, name, uri)
    except botocore.exceptions.ClientError as exc:
        raise _server_refusal(where, exc) from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise ArtifactRefused(
            c.REFUSED_ARTIFACT_ACCESS_DENIED,
            f"cannot fetch {where}: no AWS credentials were found (set "
            "artifact.s3.credentialsSecret or roleARN, or give the pod an identity)",
        ) from exc
    except (
        botocore.exceptions.ConnectionError,
        botocore.exceptions.HTTPClientError,
    ) as exc:
        # refused or reset, unknown host, TLS failure, timeouts: after the retries
        raise ArtifactRefused(
            c.REFUSED_ARTIFACT_UNREACHABLE, f"cannot reach {where}: {exc}"
        ) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise ArtifactRefused(
            c.REFUSED_ARTIFACT_FETCH_FAILED, f"cannot fetch {where}: {exc}"
        ) from exc


def _object_chunks(client: Any, bucket: str, key: str) -> Iterator[bytes]:
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    yield from body.iter_chunks(_CHUNK)


def _server_refusal(where: str, error: botocore.exceptions.ClientError) -> ArtifactRefused:
    """The store's answer as a named refusal: its error code and HTTP status, never a secret."""
    details = error.response.get("Error") or {}
    code = str(details.get("Code") or "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    said = " ".join(str(details.get("Message") or "").split())[:_MAX_SERVER_MESSAGE]
    answer = f"{code or 'error'} (HTTP {status})" + (f": {said}" if said else "")
    if code == "NoSuchBucket":
        reason = c.REFUSED_BUCKET_NOT_FOUND
    elif code in _NOT_FOUND_CODES or (not code and status == 404):
        reason = c.REFUSED_ARTIFACT_NOT_FOUND
    elif code in _DENIED_CODES or status in (401, 403):
        reason = c.REFUSED_ARTIFACT_ACCESS_DENIED
    else:
        reason = c.REFUSED_ARTIFACT_FETCH_FAILED
    return ArtifactRefused(reason, f"cannot fetch {where}: the store answered {answer}")
