"""The MLflow harness: a real tracking server whose model artifacts land in the S3 store."""

from __future__ import annotations

import json
import urllib.request

from mlflow_harness import ARTIFACT_BUCKET


def _get(server, path: str) -> dict:
    with urllib.request.urlopen(f"{server.tracking_uri}/api/2.0/mlflow/{path}", timeout=10) as r:
        return json.load(r)


def test_a_registered_model_and_its_alias_are_served_and_stored_in_s3(mlflow_server, s3_store):
    version = mlflow_server.log_model("harness-check", alias="champion")

    aliased = _get(mlflow_server, "registered-models/alias?name=harness-check&alias=champion")
    assert aliased["model_version"]["version"] == version
    stored = s3_store.client().list_objects_v2(Bucket=ARTIFACT_BUCKET).get("Contents", [])
    names = {item["Key"].rsplit("/", 1)[-1] for item in stored}
    assert {"MLmodel", "model.pkl", "requirements.txt"} <= names
