"""`modelserve-scoring fetch` of s3:// artifacts against a real S3 store (SeaweedFS on loopback).

The fetch runs as the init container runs it: the real command in a process of its own,
with the environment the operator's builder gives that container (the Secret's keys as the
kubelet would resolve them). A failure must exit non-zero with the refusal line whose
reason the Model's Degraded condition shows.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from modelserve_api.model import S3Access
from modelserve_api.runtime_report import LoadRefusal
from modelserve_operator.builders.artifact import artifact_source
from s3_harness import S3Store

SCORING_CLI = Path(sys.executable).with_name("modelserve-scoring")
SECRET_NAME = "model-reader"
KEY = "iris/1/model.joblib"
# Above boto's 8 MiB multipart threshold twice over, and many 1 MiB chunks of the stream.
LARGE_BYTES = 20 * 1024 * 1024 + 123
# Retries of a closed port end in seconds; this only stops a hung fetch from hanging CI.
FETCH_TIMEOUT_S = 120


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_env(store: S3Store, access_key: str, secret_key: str, endpoint: str | None = None):
    """The fetch container's environment, built by the operator's own builder."""
    settings = S3Access(
        endpoint_url=endpoint or store.endpoint_url,
        region=store.region,
        addressing_style="path",
        credentials_secret=SECRET_NAME,
    )
    secret = {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    # Nothing of this machine's own AWS setup may leak in: only what the pod would have.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    for item in artifact_source(f"s3://bucket/{KEY}", settings).env:
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        assert ref["name"] == SECRET_NAME
        if ref["key"] in secret:
            env[item["name"]] = secret[ref["key"]]
        else:
            assert ref.get("optional"), f"{ref['key']} is required but not in the Secret"
    return env


def fetch(uri: str, digest: str, dest: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCORING_CLI), "fetch", "--uri", uri, "--sha256", digest, "--dest", str(dest)],
        capture_output=True,
        text=True,
        env=env,
        timeout=FETCH_TIMEOUT_S,
    )


def refusal_of(result: subprocess.CompletedProcess) -> LoadRefusal:
    """The refusal the operator would find in the container's termination message."""
    assert result.returncode != 0, f"fetch succeeded: {result.stdout}"
    refusal = LoadRefusal.from_termination_message(result.stdout + result.stderr)
    assert refusal is not None, f"no refusal line in:\n{result.stdout}\n{result.stderr}"
    return refusal


@pytest.fixture(scope="module")
def bucket(s3_store: S3Store) -> str:
    name = f"fetch-{uuid.uuid4().hex[:12]}"
    s3_store.create_bucket(name)
    return name


@pytest.fixture(scope="module")
def artifact(s3_store: S3Store, bucket: str) -> bytes:
    """A small object at KEY in `bucket` (its content is opaque to fetch)."""
    data = os.urandom(64 * 1024)
    s3_store.client().put_object(Bucket=bucket, Key=KEY, Body=data)
    return data


@pytest.fixture
def admin_env(s3_store: S3Store) -> dict[str, str]:
    return fetch_env(s3_store, s3_store.access_key, s3_store.secret_key)


def test_fetch_downloads_and_verifies_the_object(s3_store, bucket, artifact, admin_env, tmp_path):
    result = fetch(f"s3://{bucket}/{KEY}", sha256(artifact), tmp_path, admin_env)
    assert result.returncode == 0, result.stderr
    assert "sha256 verified" in result.stdout
    assert (tmp_path / "model.joblib").read_bytes() == artifact
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]


def test_a_large_object_streams_to_disk_intact(s3_store, bucket, admin_env, tmp_path):
    data = os.urandom(LARGE_BYTES)
    s3_store.client().put_object(Bucket=bucket, Key="big/model.joblib", Body=data)
    result = fetch(f"s3://{bucket}/big/model.joblib", sha256(data), tmp_path, admin_env)
    assert result.returncode == 0, result.stderr
    fetched = tmp_path / "model.joblib"
    assert fetched.stat().st_size == LARGE_BYTES
    assert sha256(fetched.read_bytes()) == sha256(data)


def test_a_missing_key_is_artifact_not_found(s3_store, bucket, artifact, admin_env, tmp_path):
    uri = f"s3://{bucket}/iris/9/model.joblib"
    refusal = refusal_of(fetch(uri, sha256(artifact), tmp_path, admin_env))
    assert refusal.reason == "ArtifactNotFound"
    assert uri in refusal.message and s3_store.endpoint_url in refusal.message
    assert "NoSuchKey" in refusal.message
    assert list(tmp_path.iterdir()) == []


def test_a_missing_bucket_is_bucket_not_found(s3_store, artifact, admin_env, tmp_path):
    uri = f"s3://absent-{uuid.uuid4().hex[:12]}/{KEY}"
    refusal = refusal_of(fetch(uri, sha256(artifact), tmp_path, admin_env))
    assert refusal.reason == "BucketNotFound"
    assert uri in refusal.message and "NoSuchBucket" in refusal.message


def test_a_wrong_secret_key_is_access_denied_and_never_shown(s3_store, bucket, artifact, tmp_path):
    wrong = "not-the-secret-" + uuid.uuid4().hex
    env = fetch_env(s3_store, s3_store.access_key, wrong)
    result = fetch(f"s3://{bucket}/{KEY}", sha256(artifact), tmp_path, env)
    refusal = refusal_of(result)
    assert refusal.reason == "ArtifactAccessDenied"
    assert f"s3://{bucket}/{KEY}" in refusal.message
    assert wrong not in result.stdout + result.stderr
    assert s3_store.secret_key not in result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_reader_reads_its_bucket_and_is_denied_another(s3_store, bucket, artifact, tmp_path):
    env = fetch_env(s3_store, s3_store.reader_access_key, s3_store.reader_secret_key)
    s3_store.client().put_object(Bucket=s3_store.reader_bucket, Key=KEY, Body=artifact)
    allowed = fetch(f"s3://{s3_store.reader_bucket}/{KEY}", sha256(artifact), tmp_path / "a", env)
    assert allowed.returncode == 0, allowed.stderr
    assert (tmp_path / "a" / "model.joblib").read_bytes() == artifact

    refusal = refusal_of(fetch(f"s3://{bucket}/{KEY}", sha256(artifact), tmp_path / "b", env))
    assert refusal.reason == "ArtifactAccessDenied"
    assert s3_store.reader_secret_key not in refusal.message


def test_a_digest_mismatch_leaves_nothing_behind(s3_store, bucket, artifact, admin_env, tmp_path):
    expected = sha256(artifact + b"tampered")
    refusal = refusal_of(fetch(f"s3://{bucket}/{KEY}", expected, tmp_path, admin_env))
    assert refusal.reason == "ArtifactDigestMismatch"
    assert expected in refusal.message and sha256(artifact) in refusal.message
    assert list(tmp_path.iterdir()) == [], "no partial or unverified file may stay"


def test_an_endpoint_nobody_listens_on_is_unreachable(s3_store, artifact, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    env = fetch_env(s3_store, s3_store.access_key, s3_store.secret_key, endpoint=closed)
    refusal = refusal_of(fetch(f"s3://models/{KEY}", sha256(artifact), tmp_path, env))
    assert refusal.reason == "ArtifactUnreachable"
    assert closed in refusal.message
