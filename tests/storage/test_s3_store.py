"""The S3 store the tests start answers as S3 does: objects, identities and error codes.

The codes asserted here are what the real server returns; s3:// artifact fetching maps
them to the reasons a user sees.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from s3_harness import S3Store

TWENTY_MB = 20 * 1024 * 1024


def fresh_bucket(store: S3Store) -> str:
    """A new bucket of the admin identity, named so tests never share one."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    store.create_bucket(name)
    return name


def error_code(call, **kwargs) -> str:
    """The S3 error code a refused call gets; fails the test if the call succeeds."""
    with pytest.raises(ClientError) as refused:
        call(**kwargs)
    return refused.value.response["Error"]["Code"]


def put_text(client: BaseClient, bucket: str, key: str, text: str) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=text.encode())


def test_a_20_mb_object_comes_back_byte_for_byte(s3_store: S3Store):
    client = s3_store.client()
    bucket = fresh_bucket(s3_store)
    body = os.urandom(TWENTY_MB)

    client.put_object(Bucket=bucket, Key="models/big.bin", Body=body)
    got = client.get_object(Bucket=bucket, Key="models/big.bin")

    assert got["ContentLength"] == TWENTY_MB
    assert hashlib.sha256(got["Body"].read()).hexdigest() == hashlib.sha256(body).hexdigest()


def test_a_multipart_upload_downloads_to_the_same_file(s3_store: S3Store, tmp_path: Path):
    # boto3's managed transfers split 20 MB into 8 MB parts and ranged GETs, as a fetcher does
    client = s3_store.client()
    bucket = fresh_bucket(s3_store)
    source = tmp_path / "model.bin"
    source.write_bytes(os.urandom(TWENTY_MB))

    client.upload_file(str(source), bucket, "models/model.bin")
    client.download_file(bucket, "models/model.bin", str(tmp_path / "copy.bin"))

    assert (tmp_path / "copy.bin").read_bytes() == source.read_bytes()


def test_the_reader_reads_and_lists_its_bucket(s3_store: S3Store):
    put_text(s3_store.client(), s3_store.reader_bucket, "models/a.txt", "weights")
    reader = s3_store.reader_client()

    listed = reader.list_objects_v2(Bucket=s3_store.reader_bucket, Prefix="models/")
    got = reader.get_object(Bucket=s3_store.reader_bucket, Key="models/a.txt")

    assert "models/a.txt" in [item["Key"] for item in listed["Contents"]]
    assert got["Body"].read() == b"weights"


def test_the_reader_may_not_write_its_bucket(s3_store: S3Store):
    reader = s3_store.reader_client()
    bucket = s3_store.reader_bucket

    code = error_code(reader.put_object, Bucket=bucket, Key="models/new.txt", Body=b"x")

    assert code == "AccessDenied"
    admin = s3_store.client()
    assert error_code(admin.get_object, Bucket=bucket, Key="models/new.txt") == "NoSuchKey"


def test_the_reader_may_not_read_or_list_another_bucket(s3_store: S3Store):
    other = fresh_bucket(s3_store)
    put_text(s3_store.client(), other, "models/a.txt", "secret")
    reader = s3_store.reader_client()

    assert error_code(reader.get_object, Bucket=other, Key="models/a.txt") == "AccessDenied"
    assert error_code(reader.list_objects_v2, Bucket=other) == "AccessDenied"
    # a bucket that does not exist is refused the same way: the reader learns nothing of it
    absent = f"absent-{uuid.uuid4().hex[:12]}"
    assert error_code(reader.get_object, Bucket=absent, Key="models/a.txt") == "AccessDenied"


def test_a_wrong_secret_is_refused_as_a_bad_signature(s3_store: S3Store):
    client = s3_store.client(s3_store.access_key, "not-the-secret")

    assert error_code(client.list_objects_v2, Bucket=s3_store.reader_bucket) == (
        "SignatureDoesNotMatch"
    )


def test_an_unknown_access_key_is_refused_as_invalid(s3_store: S3Store):
    client = s3_store.client("nobody-has-this-key", "whatever")

    assert error_code(client.list_objects_v2, Bucket=s3_store.reader_bucket) == (
        "InvalidAccessKeyId"
    )


def test_a_missing_key_is_no_such_key(s3_store: S3Store):
    client = s3_store.client()

    code = error_code(client.get_object, Bucket=s3_store.reader_bucket, Key="models/absent")

    assert code == "NoSuchKey"


def test_a_missing_bucket_is_no_such_bucket(s3_store: S3Store):
    client = s3_store.client()
    absent = f"absent-{uuid.uuid4().hex[:12]}"

    assert error_code(client.get_object, Bucket=absent, Key="models/a.txt") == "NoSuchBucket"
    assert error_code(client.list_objects_v2, Bucket=absent) == "NoSuchBucket"


def test_a_head_request_carries_only_the_http_status(s3_store: S3Store):
    # HEAD answers have no body, so boto3 reports the status as the code: a fetcher that
    # wants NoSuchKey, NoSuchBucket or SignatureDoesNotMatch must read them from a GET
    admin = s3_store.client()
    absent = f"absent-{uuid.uuid4().hex[:12]}"
    wrong_secret = s3_store.client(s3_store.access_key, "not-the-secret")

    assert error_code(admin.head_object, Bucket=s3_store.reader_bucket, Key="absent") == "404"
    assert error_code(admin.head_object, Bucket=absent, Key="models/a.txt") == "404"
    assert error_code(wrong_secret.head_object, Bucket=s3_store.reader_bucket, Key="a") == "403"
