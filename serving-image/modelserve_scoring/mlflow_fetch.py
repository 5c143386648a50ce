"""Fetch an MLflow model directory (mlflow-artifacts:/) and verify its directory digest.

The tracking server and credentials come from the fetch container's environment: the
standard MLFLOW_TRACKING_URI, and MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD from the Model's Secret.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from modelserve_api import mlflow_registry as registry

from modelserve_scoring.artifact import check_digest
from modelserve_scoring.errors import ArtifactError, ArtifactRefused

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"


def fetch_mlflow(
    download_uri: str,
    expected_digest: str,
    dest_dir: Path,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """Download the directory into dest_dir; its files appear there only once the directory
    digest matches, and nothing is left behind on any failure. Returns dest_dir."""
    env = os.environ if environ is None else environ
    tracking_uri = env.get(TRACKING_URI_ENV)
    if not tracking_uri:
        raise ArtifactError(f"{TRACKING_URI_ENV} is not set: cannot fetch {download_uri}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=dest_dir))
    try:
        try:
            digest = registry.Registry(tracking_uri, env).download(download_uri, staging)
        except registry.MLflowError as error:
            raise ArtifactRefused(error.reason, str(error)) from error
        check_digest(digest, expected_digest, f"MLflow model directory {download_uri}")
        for entry in sorted(staging.iterdir()):
            os.replace(entry, dest_dir / entry.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest_dir
