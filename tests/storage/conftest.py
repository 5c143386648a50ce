"""Fixtures of the storage tests: real storage servers on loopback, no cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mlflow_harness import MLflowServer, mlflow_binary, start_mlflow
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


@pytest.fixture(scope="session")
def mlflow_server(
    s3_store: S3Store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MLflowServer]:
    """An `mlflow server` on 127.0.0.1 (SQLite metadata, artifacts in `s3_store`), for the
    session; stopped by its PID. Its log is mlflow.log beside the database."""
    server = start_mlflow(mlflow_binary(), tmp_path_factory.mktemp("mlflow"), s3_store)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_auth_server(
    s3_store: S3Store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MLflowServer]:
    """An `mlflow server` running MLflow's basic-auth app: nothing answers without signing in
    as the admin in `credentials`."""
    server = start_mlflow(
        mlflow_binary(), tmp_path_factory.mktemp("mlflow-auth"), s3_store, basic_auth=True
    )
    try:
        yield server
    finally:
        server.stop()
