"""A Model may name an MLflow registered model (models:/) with its tracking server."""

from __future__ import annotations

import pytest
from modelserve_api import SpecError, parse_model


def _model(artifact: dict) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "churn-mlflow", "namespace": "default"},
        "spec": {
            "modelName": "churn",
            "version": "1",
            "framework": "sklearn",
            "artifact": artifact,
        },
    }


@pytest.mark.parametrize(
    "uri", ["models:/churn/3", "models:/churn@champion", "models:/Churn.v2@a-b"]
)
def test_a_registered_model_needs_no_sha256(uri):
    model = parse_model(
        _model({"uri": uri, "mlflow": {"trackingURI": "http://mlflow.mlops.svc:5000"}})
    )
    assert model.spec.artifact.scheme == "models"
    assert model.spec.artifact.mlflow.tracking_uri == "http://mlflow.mlops.svc:5000"


@pytest.mark.parametrize(
    ("artifact", "problem"),
    [
        ({"uri": "models:/churn@champion"}, "needs artifact.mlflow"),
        (
            {"uri": "s3://bucket/m.pkl", "sha256": "a" * 64, "mlflow": {"trackingURI": "http://m"}},
            "only allowed with a models:/",
        ),
        ({"uri": "models:/churn", "mlflow": {"trackingURI": "http://m"}}, "artifact.uri"),
        ({"uri": "models:/churn/0", "mlflow": {"trackingURI": "http://m"}}, "artifact.uri"),
        (
            {"uri": "models:/churn/1", "mlflow": {"trackingURI": "http://u:p@m"}},
            "trackingURI",
        ),
    ],
)
def test_bad_registered_model_references_are_refused_by_name(artifact, problem):
    with pytest.raises(SpecError, match=problem.replace(".", r"\.").replace("/", "/")):
        parse_model(_model(artifact))


FOLLOW = {"trackingURI": "http://m", "followAlias": True}


def test_an_alias_can_be_followed_with_its_own_poll_period():
    model = parse_model(
        _model({"uri": "models:/churn@champion", "mlflow": {**FOLLOW, "pollSeconds": 30}})
    )
    assert model.spec.artifact.follows_alias
    assert model.spec.artifact.mlflow.poll_seconds == 30
    resolved_once = parse_model(
        _model({"uri": "models:/churn@champion", "mlflow": {"trackingURI": "http://m"}})
    )
    assert not resolved_once.spec.artifact.follows_alias


@pytest.mark.parametrize(
    ("artifact", "problem"),
    [
        (
            {"uri": "models:/churn/3", "mlflow": FOLLOW},
            "followAlias needs a models:/<name>@<alias>",
        ),
        (
            {"uri": "models:/churn@champion", "sha256": "a" * 64, "mlflow": FOLLOW},
            "no artifact.sha256",
        ),
        ({"uri": "models:/churn@champion", "mlflow": {**FOLLOW, "pollSeconds": 1}}, "pollSeconds"),
    ],
)
def test_following_needs_an_alias_no_digest_and_a_sane_period(artifact, problem):
    with pytest.raises(SpecError, match=problem.replace(".", r"\.")):
        parse_model(_model(artifact))
