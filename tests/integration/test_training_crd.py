"""The API server itself enforces Model.spec.training's rules and fills its defaults."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

SHA = "ab" * 32


def trained_model(name: str = "churn-4", artifact: dict | None = None, **training: Any) -> dict:
    spec: dict[str, Any] = {
        "task": "classification",
        "data": {"claimName": "datasets", "path": "churn/2024-06.csv", "target": "churned"},
        "estimator": {
            "className": "sklearn.linear_model.LogisticRegression",
            "params": {"C": 0.5, "max_iter": 500},
        },
        "gate": "accuracy >= 0.88",
    }
    spec.update(training)
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name},
        "spec": {
            "modelName": "churn",
            "version": "4",
            "framework": "sklearn",
            "artifact": artifact or {"uri": "pvc://models/churn/4/model.joblib"},
            "training": spec,
        },
    }


def submit(cluster, namespace: str, body: dict[str, Any], *, dry_run: bool = True):
    args = ["create", "-n", namespace, "-f", "-"]
    if dry_run:
        args.append("--dry-run=server")
    return cluster.kubectl(*args, input_text=json.dumps(body), check=False)


@pytest.fixture(scope="module")
def training_crd(cluster, crds):
    """The CRDs applied, and the training schema served (an update takes a moment)."""
    cluster.wait_for(
        lambda: submit(cluster, "default", trained_model()).returncode == 0,
        "the Model CRD with spec.training to be served",
    )
    return cluster


def with_data(**data: Any) -> dict:
    return {
        "data": {"claimName": "datasets", "path": "churn/2024-06.csv", "target": "churned", **data}
    }


INVALID = [
    (
        "no-digest-no-training",
        {**trained_model(), "spec": {**trained_model()["spec"], "training": None}},
        "spec.artifact.sha256",
        "required unless spec.training",
    ),
    (
        "training-to-http",
        trained_model(artifact={"uri": "https://example.com/m.joblib"}),
        "spec.artifact.uri",
        "must be pvc://",
    ),
    (
        "estimator-not-allowed",
        trained_model(estimator={"className": "os.system"}),
        "spec.training.estimator.className",
        "Unsupported value",
    ),
    (
        "estimator-wrong-task",
        trained_model(estimator={"className": "sklearn.linear_model.Ridge"}),
        "spec.training.estimator.className",
        "does not fit the task",
    ),
    ("fractions", trained_model(split={"train": 0.8}), "spec.training.split", "must add up to 1"),
    (
        "test-zero",
        trained_model(split={"train": 0.85, "validation": 0.15, "test": 0}),
        "spec.training.split.test",
        "",
    ),
    (
        "gate-grammar",
        trained_model(gate="accuracy is at least 0.88"),
        "spec.training.gate",
        "joined by ' and '",
    ),
    (
        "gate-code",
        trained_model(gate="__import__('os').system('id') > 0"),
        "spec.training.gate",
        "joined by ' and '",
    ),
    ("gate-wrong-task", trained_model(gate="r2 > 0.5"), "spec.training.gate", "the task's metrics"),
    (
        "metrics-wrong-task",
        trained_model(metrics=["accuracy", "mse"]),
        "spec.training.metrics",
        "the task's metrics",
    ),
    (
        "no-target",
        trained_model(**with_data(target=None)),
        "spec.training.data.target",
        "required unless the task is clustering",
    ),
    (
        "two-sources",
        trained_model(**with_data(dataset="iris")),
        "spec.training.data",
        "either data.dataset",
    ),
    (
        "path-without-claim",
        trained_model(**with_data(claimName=None)),
        "spec.training.data",
        "go together",
    ),
    (
        "path-parent",
        trained_model(**with_data(path="churn/../../etc/x.csv")),
        "spec.training.data.path",
        "inside the volume",
    ),
    (
        "unknown-format",
        trained_model(**with_data(path="churn/export.bin")),
        "spec.training.data.format",
        "set data.format",
    ),
    (
        "loo-with-f1",
        trained_model(crossValidation={"strategy": "leaveOneOut", "metric": "f1"}),
        "spec.training.crossValidation.metric",
        "leave-one-out",
    ),
    (
        "search-without-holdout",
        trained_model(
            search={"parameters": {"C": [0.1, 1]}},
            split={"train": 0.85, "validation": 0, "test": 0.15},
        ),
        "spec.training.search",
        "needs crossValidation or a validation part",
    ),
    ("timeout", trained_model(timeoutSeconds=10), "spec.training.timeoutSeconds", ""),
]


def _drop_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nones(v) for k, v in value.items() if v is not None}
    return value


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [pytest.param(body, field, fragment, id=case) for case, body, field, fragment in INVALID],
)
def test_api_server_refuses_invalid_training(training_crd, namespace, body, field, fragment):
    result = submit(training_crd, namespace, _drop_nones(copy.deepcopy(body)))
    assert result.returncode != 0, f"the API server accepted an invalid Model: {result.stdout}"
    assert field in result.stderr, result.stderr
    assert fragment in result.stderr, result.stderr


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(trained_model(), id="file"),
        pytest.param(
            trained_model(
                task="regression",
                data={"dataset": "diabetes"},
                estimator={
                    "className": "sklearn.linear_model.SGDRegressor",
                    "params": {
                        "learning_rate": "adaptive",
                        "eta0": 0.01,
                        "penalty": "l1",
                        "alpha": 0.0001,
                    },
                },
                preprocessing=[{"className": "sklearn.preprocessing.StandardScaler"}],
                crossValidation={"strategy": "leaveOneOut"},
                gate="r2 > 0.3 and mae < 60",
            ),
            id="bundled-regression-loo",
        ),
        pytest.param(
            trained_model(
                task="clustering",
                data={"claimName": "datasets", "path": "points.parquet"},
                estimator={"className": "sklearn.cluster.KMeans", "params": {"n_clusters": 4}},
                gate="silhouette >= 0.2",
                split={"train": 0.8, "validation": 0, "test": 0.2, "seed": 1},
            ),
            id="clustering-integer-zero",
        ),
        pytest.param(
            trained_model(
                search={
                    "method": "random",
                    "parameters": {"C": [0.1, 1, 10], "class_weight": [None, "balanced"]},
                    "iterations": 4,
                },
                crossValidation={"folds": 3},
                metrics=["accuracy", "roc_auc"],
                resources={"requests": {"cpu": "1", "memory": "1Gi"}},
            ),
            id="search",
        ),
        pytest.param(
            trained_model(artifact={"uri": "pvc://models/churn/4/model.joblib", "sha256": SHA}),
            id="trained-with-expected-digest",
        ),
    ],
)
def test_api_server_accepts_valid_training(training_crd, namespace, body):
    result = submit(training_crd, namespace, body)
    assert result.returncode == 0, result.stderr


def test_training_defaults_are_applied_and_the_spec_stays_immutable(training_crd, namespace):
    submit(training_crd, namespace, trained_model(), dry_run=False).check_returncode()
    stored = json.loads(
        training_crd.kubectl("get", "model", "churn-4", "-n", namespace, "-o", "json").stdout
    )
    training = stored["spec"]["training"]
    assert training["split"] == {
        "train": 0.7,
        "validation": 0.15,
        "test": 0.15,
        "seed": 42,
        "stratify": True,
    }
    assert training["timeoutSeconds"] == 3600
    assert training["estimator"]["params"] == {"C": 0.5, "max_iter": 500}
    result = training_crd.kubectl(
        "patch",
        "model",
        "churn-4",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"training": {"gate": "accuracy >= 0.5"}}}),
        check=False,
    )
    assert result.returncode != 0 and "immutable" in result.stderr


def test_training_job_passes_server_side_validation(training_crd, namespace):
    from modelserve_api import parse_model
    from modelserve_operator.builders.common import BuilderSettings
    from modelserve_operator.builders.training import build_training_job

    body = trained_model(resources={"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}})
    body["metadata"].update(namespace=namespace, uid="0b7e6f1c-7d0e-4d53-9b1e-2f1d3c4b5a69")
    job = build_training_job(parse_model(body), BuilderSettings())
    result = training_crd.kubectl(
        "create", "--dry-run=server", "-f", "-", input_text=json.dumps(job), check=False
    )
    assert result.returncode == 0, result.stderr
