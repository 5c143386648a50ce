"""A training Job's outcome, read into a Model's status and conditions (no cluster).

The termination messages here are real: the trainer's own CLI runs on the bundled iris
data with the spec the operator hands its Job, and writes the message the kubelet keeps.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from modelserve_api import parse_model
from modelserve_operator.builders.training import training_spec_json
from modelserve_operator.reconcilers.training_outcome import (
    ReportError,
    observe_training,
    parse_report,
)
from modelserve_operator.resolved import ResolvedModel
from modelserve_scoring.train.cli import main as train_main

REPO_ROOT = Path(__file__).resolve().parents[3]
GOOD = {
    "className": "sklearn.linear_model.LogisticRegression",
    "params": {"max_iter": 500},
}
# A one-split tree cannot tell three species apart: it never reaches 0.9 accuracy.
STUMP = {"className": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 1}}


def model_body(estimator: dict, gate: str, sha256: str | None = None, **training: Any) -> dict:
    spec = {"task": "classification", "data": {"dataset": "iris"}, "estimator": estimator}
    spec.update(gate=gate, **training)
    artifact = {"uri": "pvc://models/iris/1/model.joblib"}
    if sha256:
        artifact["sha256"] = sha256
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "iris-1", "namespace": "ml", "uid": "m-uid", "generation": 1},
        "spec": {
            "modelName": "iris",
            "version": "1",
            "framework": "sklearn",
            "artifact": artifact,
            "training": spec,
        },
    }


def run_trainer(body: dict, directory: Path) -> tuple[int, str, Path]:
    """Run `modelserve-scoring train` as the Job would; exit code, message, artifact path."""
    spec = directory / "spec.json"
    spec.write_text(training_spec_json(parse_model(body)))
    message = directory / "termination-log"
    message.touch()  # the kubelet makes this file; the trainer only writes into it
    artifact = directory / "out" / "model.joblib"
    code = train_main(
        ["--spec", str(spec), "--output", str(artifact), "--termination-message-path", str(message)]
    )
    return code, message.read_text(), artifact


def job(conditions: list[dict] | None = None, completion: str | None = None) -> dict:
    status: dict[str, Any] = {"conditions": conditions or []}
    if completion:
        status["completionTime"] = completion
    return {"metadata": {"name": "iris-1-train", "uid": "job-uid"}, "status": status}


def complete_job() -> dict:
    return job([{"type": "Complete", "status": "True"}], completion="2025-01-01T00:05:00Z")


def failed_job(reason: str, message: str = "") -> dict:
    failed = {
        "type": "Failed",
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2025-01-01T00:05:00Z",
    }
    return job([failed])


def pod(name: str = "iris-1-train-abcde", created: str = "2025-01-01T00:00:00Z", **state) -> dict:
    phase = "Running"
    if "terminated" in state:
        phase = "Succeeded" if state["terminated"].get("exitCode") == 0 else "Failed"
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "status": {"phase": phase, "containerStatuses": [{"name": "train", "state": state}]},
    }


def terminated(exit_code: int, message: str = "", reason: str = "") -> dict:
    return {"terminated": {"exitCode": exit_code, "message": message, "reason": reason}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[dict, str, Path]:
    body = model_body(GOOD, "accuracy >= 0.8", crossValidation={"folds": 3})
    code, message, artifact = run_trainer(body, tmp_path_factory.mktemp("trained"))
    assert code == 0, message
    return body, message, artifact


@pytest.fixture(scope="module")
def gated_out(tmp_path_factory) -> tuple[dict, str, int, Path]:
    body = model_body(STUMP, "accuracy >= 0.9")
    code, message, artifact = run_trainer(body, tmp_path_factory.mktemp("gated"))
    return body, message, code, artifact


def test_a_completed_job_makes_the_model_ready_with_what_the_trainer_measured(trained):
    body, message, artifact = trained
    model = parse_model(body)

    seen = observe_training(model, complete_job(), [pod(**terminated(0, message))])

    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert seen.summary.state == "ready" and seen.summary.reason == "Trained"
    assert "gate 'accuracy >= 0.8' passed" in seen.summary.message
    assert digest in seen.summary.message
    training = seen.status["training"]
    assert training["result"] == "Succeeded"
    assert training["jobName"] == "iris-1-train"
    assert training["artifactSha256"] == digest
    assert training["completionTime"] == "2025-01-01T00:05:00Z"
    assert training["gate"] == {"expression": "accuracy >= 0.8", "passed": True}
    assert sum(training["splitSizes"].values()) == 150
    assert training["crossValidation"]["folds"] == 3
    assert len(training["crossValidation"]["scores"]) == 3
    assert set(training["validationMetrics"]) >= {"accuracy", "f1"}
    assert seen.status["metrics"]["accuracy"] >= 0.8
    assert seen.status["nFeatures"] == 4
    assert seen.status["classes"] == ["0", "1", "2"]
    assert seen.status["sizeBytes"] == artifact.stat().st_size
    assert "scikit-learn" in seen.status["libraryVersions"]


def test_endpoints_resolve_a_trained_model_to_the_digest_in_its_status(trained):
    body, message, artifact = trained
    seen = observe_training(parse_model(body), complete_job(), [pod(**terminated(0, message))])

    resolved = ResolvedModel.from_model(parse_model({**body, "status": seen.status}))

    assert resolved.artifact_sha256 == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert resolved.artifact_uri == "pvc://models/iris/1/model.joblib"


def _schema_keys(schema: dict, path: list[str]) -> set[str]:
    for key in path:
        schema = schema["properties"][key]
    return set(schema["properties"])


def test_every_status_field_written_is_one_the_crd_keeps(trained):
    # The API server silently prunes unknown status fields: each one must be in the schema.
    body, message, _ = trained
    seen = observe_training(parse_model(body), complete_job(), [pod(**terminated(0, message))])
    crd = yaml.safe_load((REPO_ROOT / "crds" / "modelserve.io_models.yaml").read_text())
    status_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]

    assert set(seen.status) <= _schema_keys(status_schema, [])
    assert set(seen.status["training"]) <= _schema_keys(status_schema, ["training"])
    for nested in ("crossValidation", "gate"):
        kept = _schema_keys(status_schema, ["training", nested])
        assert set(seen.status["training"][nested]) <= kept, nested


def test_a_digest_other_than_the_one_in_the_spec_fails_the_model(trained):
    _, message, artifact = trained
    right = hashlib.sha256(artifact.read_bytes()).hexdigest()
    pods = [pod(**terminated(0, message))]

    wrong = observe_training(
        parse_model(model_body(GOOD, "accuracy >= 0.8", "0" * 64)), complete_job(), pods
    )
    same = observe_training(
        parse_model(model_body(GOOD, "accuracy >= 0.8", right.upper())), complete_job(), pods
    )

    assert wrong.summary.state == "failed" and wrong.summary.reason == "DigestMismatch"
    assert "0" * 64 in wrong.summary.message and right in wrong.summary.message
    assert same.summary.state == "ready"


def test_a_failed_gate_degrades_the_model_with_the_trainers_verdict(gated_out):
    body, message, code, artifact = gated_out
    assert code == 3 and not artifact.exists()

    seen = observe_training(
        parse_model(body), failed_job("PodFailurePolicy"), [pod(**terminated(code, message))]
    )

    assert seen.summary.state == "failed" and seen.summary.reason == "GateFailed"
    assert "gate 'accuracy >= 0.9' failed: accuracy = " in seen.summary.message
    assert "needs accuracy >= 0.9" in seen.summary.message
    assert seen.summary.message.endswith("no artifact was written")
    training = seen.status["training"]
    assert training["result"] == "GateFailed"
    assert "artifactSha256" not in training
    assert training["gate"] == {"expression": "accuracy >= 0.9", "passed": False}
    assert seen.status["metrics"]["accuracy"] < 0.9  # shown, so the user sees how far off


def test_a_timed_out_job_says_which_setting_stopped_it():
    body = model_body(GOOD, "accuracy >= 0.8", timeoutSeconds=120)

    seen = observe_training(
        parse_model(body), failed_job("DeadlineExceeded", "Job was active longer"), []
    )

    assert seen.summary.reason == "TrainingTimedOut" and seen.summary.state == "failed"
    assert "spec.training.timeoutSeconds (120 s)" in seen.summary.message
    assert seen.status["training"]["result"] == "Failed"


def test_an_invalid_spec_or_bad_data_fails_with_the_trainers_message():
    report = {"result": "failed", "message": "data: column 'churned' not found; columns are a, b"}
    body = model_body(GOOD, "accuracy >= 0.8")

    seen = observe_training(
        parse_model(body),
        failed_job("PodFailurePolicy"),
        [pod(**terminated(4, json.dumps(report), "Error"))],
    )

    assert seen.summary.reason == "TrainingFailed"
    assert "exit code 4, data or estimator error" in seen.summary.message
    assert "column 'churned' not found" in seen.summary.message
    assert seen.status["training"]["message"].endswith("columns are a, b")


def test_a_crash_reports_the_end_of_the_log_and_retried_pods_report_the_newest():
    tail = "Traceback (most recent call last):\n  ...\nMemoryError: cannot allocate\n"
    pods = [
        pod("iris-1-train-old", "2025-01-01T00:00:00Z", **terminated(1, "first try\n")),
        pod("iris-1-train-new", "2025-01-01T00:02:00Z", **terminated(1, tail)),
    ]

    seen = observe_training(
        parse_model(model_body(GOOD, "accuracy >= 0.8")), failed_job("BackoffLimitExceeded"), pods
    )

    assert seen.summary.reason == "TrainingFailed"
    assert "exit code 1, error: Traceback" in seen.summary.message
    assert seen.summary.message.rstrip(")").endswith("MemoryError: cannot allocate")
    assert "first try" not in seen.summary.message


def test_an_oom_killed_trainer_is_named_as_such():
    pods = [pod(**terminated(137, "", "OOMKilled"))]

    seen = observe_training(
        parse_model(model_body(GOOD, "accuracy >= 0.8")), failed_job("BackoffLimitExceeded"), pods
    )

    assert "exit code 137, OOMKilled" in seen.summary.message


def test_a_failed_job_whose_pods_are_gone_falls_back_to_the_job_condition():
    seen = observe_training(
        parse_model(model_body(GOOD, "accuracy >= 0.8")),
        failed_job("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        [],
    )

    assert seen.summary.reason == "TrainingFailed"
    assert "BackoffLimitExceeded: Job has reached the specified backoff limit" in (
        seen.summary.message
    )


def test_a_running_job_is_progressing_and_an_unpullable_image_is_not():
    model = parse_model(model_body(GOOD, "accuracy >= 0.8"))
    pulling = pod(waiting={"reason": "ErrImagePull", "message": "modelserve/scoring:v9 not found"})
    unschedulable = {
        "metadata": {"name": "iris-1-train-x", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: pod has unbound PersistentVolumeClaims.",
                }
            ],
        },
    }

    running = observe_training(model, job(), [pod(running={})])
    stuck = observe_training(model, job(), [pulling])
    waiting = observe_training(model, job(), [unschedulable])

    assert running.summary.state == "progressing" and running.summary.reason == "Training"
    assert running.status == {"training": {"jobName": "iris-1-train", "result": "Running"}}
    assert stuck.summary.state == "failed" and stuck.summary.reason == "TrainingStuck"
    assert "ErrImagePull" in stuck.summary.message and "v9 not found" in stuck.summary.message
    assert waiting.summary.state == "progressing"
    assert waiting.summary.reason == "PodUnschedulable"
    assert waiting.summary.message == (
        "training Job iris-1-train: pod iris-1-train-x cannot be scheduled (Unschedulable): "
        "0/3 nodes are available: pod has unbound PersistentVolumeClaims."
    )


def test_a_completed_job_without_a_report_cannot_make_the_model_ready():
    # What a simulated (KWOK) pod, or a trainer that is not ours, leaves behind.
    model = parse_model(model_body(GOOD, "accuracy >= 0.8"))

    silent = observe_training(model, complete_job(), [pod(**terminated(0, ""))])
    gone = observe_training(model, complete_job(), [])

    for seen in (silent, gone):
        assert seen.summary.state == "failed" and seen.summary.reason == "TrainingReportMissing"
        assert "digest is unknown" in seen.summary.message
        assert "Delete the Job to train again" in seen.summary.message
    assert "no termination message" in silent.summary.message
    assert "its pod is gone" in gone.summary.message


def test_once_recorded_a_success_outlives_the_jobs_pods(trained):
    body, message, _ = trained
    first = observe_training(parse_model(body), complete_job(), [pod(**terminated(0, message))])
    recorded = parse_model({**body, "status": first.status})

    later = observe_training(recorded, complete_job(), [], recorded.status.training)

    assert later.summary == first.summary
    assert later.status == {}  # nothing to change: status already holds the report


def test_once_recorded_a_failed_gate_outlives_the_jobs_pods(gated_out):
    body, message, code, _ = gated_out
    gone_job = failed_job("PodFailurePolicy")
    first = observe_training(parse_model(body), gone_job, [pod(**terminated(code, message))])
    recorded = parse_model({**body, "status": first.status})

    later = observe_training(recorded, gone_job, [], recorded.status.training)

    assert later.summary == first.summary
    assert later.summary.reason == "GateFailed"
    assert later.status == {}


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ("", "no termination message"),
        ("Traceback ...\nValueError: boom", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"result": "succeeded", "message": "ok"}', "success but no artifact"),
        ('{"result": "succeeded", "artifact": {"sha256": "xyz"}}', "artifact.sha256"),
        ('{"result": "done"}', "result"),
        (
            '{"result": "succeeded", "artifact": {"sha256": "' + "a" * 64 + '"}, '
            '"metrics": {"accuracy": "high"}}',
            "metrics.accuracy",
        ),
    ],
)
def test_a_message_that_is_not_a_trainer_report_is_refused_naming_why(message, fragment):
    with pytest.raises(ReportError, match=fragment):
        parse_report(message)
