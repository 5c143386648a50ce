"""Fixtures of the storage tests: real storage servers on loopback, no cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from s3_harness import S3Store, start_seaweedfs, weed_binary


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Store]:
    """A SeaweedFS S3 gateway on 127.0.0.1, its data in a temporary folder, for the session.

    It is stopped by its PID when the session ends; its log is weed.log beside the data.
    """
    server = start_seaweedfs(weed_binary(), tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server.store
    finally:
        server.stop()
