"""Model.spec.training and status.training in the typed API, and how they agree with the trainer."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from modelserve_api import SpecError, parse_model
from modelserve_api.gate import gate_pattern
from modelserve_api.tasks import ESTIMATORS
from modelserve_api.training import GATE_PATTERN
from modelserve_operator.resolved import ResolvedModel
from modelserve_scoring.train import TrainingSpecError, parse_gate, parse_training_spec
from operator_bodies import trained_model

ROOT = Path(__file__).resolve().parents[3]
SHA = "cd" * 32


def _training_schema() -> dict:
    crd = yaml.safe_load((ROOT / "crds" / "modelserve.io_models.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["training"]


def test_training_model_parses_with_defaults_and_no_digest():
    model = parse_model(trained_model())
    training = model.spec.training
    assert model.spec.artifact.sha256 is None
    assert (training.split.train, training.split.validation, training.split.test) == (
        0.7,
        0.15,
        0.15,
    )
    assert training.split.seed == 42 and training.timeout_seconds == 3600
    assert training.estimator.params == {"C": 0.5}


@pytest.mark.parametrize(
    ("body_change", "fragment"),
    [
        (lambda b: b["spec"].pop("training"), "spec.artifact.sha256 is required unless"),
        (
            lambda b: b["spec"]["artifact"].update(uri="https://example.com/m.joblib"),
            "must be pvc://<claim>/<path>",
        ),
        (lambda b: b["spec"]["training"].update(split={"train": 0.9}), "must add up to 1"),
        (lambda b: b["spec"]["training"].update(gate="accuracy is high"), "spec.training.gate"),
        (lambda b: b["spec"]["training"]["data"].pop("claimName"), "go together"),
        (
            lambda b: b["spec"]["training"]["data"].pop("target"),
            "spec.training: data.target: a classification task needs the target column",
        ),
        (
            lambda b: b["spec"]["training"]["data"].update(path="../x.csv"),
            "spec.training.data.path",
        ),
        (lambda b: b["spec"]["training"].update(task="ranking"), "spec.training.task"),
    ],
)
def test_bad_training_spec_is_refused_naming_the_field(body_change, fragment):
    body = copy.deepcopy(trained_model())
    body_change(body)
    with pytest.raises(SpecError, match=re.escape(fragment)):
        parse_model(body)


def test_a_trained_model_resolves_to_the_digest_its_job_reported():
    body = trained_model()
    with pytest.raises(ValueError, match="no artifact digest yet"):
        ResolvedModel.from_model(parse_model(body))
    body["status"] = {"training": {"result": "Succeeded", "artifactSha256": SHA}}
    resolved = ResolvedModel.from_model(parse_model(body))
    assert resolved.artifact_sha256 == SHA
    assert resolved.artifact_uri == "pvc://models/churn/4/model.joblib"


def test_the_trainer_accepts_what_the_operator_passes_it():
    """The Job's env holds spec.training.to_wire(): the trainer must parse it unchanged."""
    body = trained_model(
        preprocessing=[{"className": "sklearn.preprocessing.StandardScaler"}],
        crossValidation={"folds": 3},
        search={"method": "random", "parameters": {"C": [0.1, 1.0]}, "iterations": 2},
        metrics=["accuracy", "f1"],
        resources={"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}},
        timeoutSeconds=600,
    )
    wire = parse_model(body).spec.training.to_wire()
    spec = parse_training_spec(wire)
    assert spec.cross_validation.folds == 3 and spec.search.iterations == 2
    assert spec.data.claim_name == "datasets" and spec.gate == "accuracy >= 0.88"


GATES = [
    "accuracy >= 0.88",
    "accuracy>=0.88",
    "  f1 > .5 and roc_auc >= 0.9  ",
    "r2 > -1",
    "mse < 3000 and mae <= 40 and r2 >= 0.4",
    "accuracy",
    "accuracy => 0.9",
    "accuracy >= 0.9 or f1 > 0.5",
    "accuracy >= 1e-3",
    "Accuracy >= 0.9",
    "accuracy >= 0.9 and",
    "accuracy\t>= 0.9",
    "len(x) > 0",
]


@pytest.mark.parametrize("gate", GATES)
def test_api_server_operator_and_trainer_agree_on_gate_syntax(gate):
    cel = _training_schema()["properties"]["gate"]["x-kubernetes-validations"][0]["rule"]
    crd_pattern = re.fullmatch(r"self\.matches\('(.*)'\)", cel.strip()).group(1)
    try:
        parse_gate(gate)
        trainer_accepts = True
    except ValueError:
        trainer_accepts = False
    assert crd_pattern == GATE_PATTERN == gate_pattern()
    # RE2 (the API server's) and Python's re agree on this pattern's plain syntax.
    assert (re.search(crd_pattern, gate) is not None) == trainer_accepts


@pytest.mark.parametrize(
    ("task", "gate", "allowed"),
    [
        ("classification", "roc_auc >= 0.9 and f1 > 0.8", True),
        ("classification", "r2 > 0.5", False),
        ("regression", "r2 > 0.5 and mse < 10", True),
        ("regression", "accuracy >= 0.9", False),
        ("clustering", "silhouette > 0.3", True),
    ],
)
def test_the_task_rule_of_the_crd_allows_what_the_trainer_allows(task, gate, allowed):
    rule = next(
        r["rule"]
        for r in _training_schema()["x-kubernetes-validations"]
        if r.get("fieldPath") == ".gate"
    )
    pattern = re.search(rf"self\.task == '{task}' && self\.gate\.matches\('([^']*)'\)", rule)[1]
    spec = {
        "task": task,
        "data": {"dataset": "iris"},
        "gate": gate,
        "estimator": {"className": ESTIMATORS[task][0]},
    }
    try:
        parse_training_spec(spec)
        trainer_allows = True
    except TrainingSpecError:
        trainer_allows = False
    assert trainer_allows is allowed
    assert (re.search(pattern, gate) is not None) is allowed
