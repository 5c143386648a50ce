"""`modelserve-scoring train` as a Job runs it: spec from the env, outputs the server loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from modelserve_api.training import EXIT_DATA, EXIT_SPEC, TrainerReport
from modelserve_scoring.cli import main
from modelserve_scoring.runtime.sklearn_runtime import SklearnRuntime
from modelserve_scoring.train.outputs import MAX_MESSAGE_BYTES, termination_summary
from sklearn.datasets import load_iris
from train_helpers import write_spec

SCORING_CLI = Path(sys.executable).with_name("modelserve-scoring")


def test_job_entry_point_trains_from_the_env_and_the_server_loads_the_artifact(iris_spec, tmp_path):
    iris_spec["gate"] = "accuracy >= 0.8"
    # What the operator passes: the CRD's fields the trainer does not use included.
    iris_spec["resources"] = {"requests": {"cpu": "500m"}}
    iris_spec["timeoutSeconds"] = 600
    output = tmp_path / "artifacts" / "iris" / "3" / "model.joblib"
    termination = tmp_path / "termination-log"
    termination.touch()  # the kubelet creates it; the trainer only writes into it
    result = subprocess.run(
        [
            str(SCORING_CLI),
            "train",
            "--output",
            str(output),
            "--termination-message-path",
            str(termination),
        ],
        env={**os.environ, "MODELSERVE_TRAINING_SPEC": json.dumps(iris_spec)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(termination.read_text())
    assert TrainerReport.model_validate(summary).artifact is not None  # what the operator reads
    assert summary["result"] == "succeeded"
    assert summary["gate"]["passed"] is True
    assert set(summary["splitSizes"]) == {"train", "validation", "test"}
    assert summary["classes"] == ["0", "1", "2"] and summary["nFeatures"] == 4
    sha256 = summary["artifact"]["sha256"]
    assert sha256 in result.stdout

    runtime = SklearnRuntime(output, sha256)
    runtime.load()
    x, _ = load_iris(return_X_y=True)
    assert runtime.predict(x[:5]).tolist() == [0, 0, 0, 0, 0]


def test_without_a_spec_the_usage_error_says_how_to_give_one(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MODELSERVE_TRAINING_SPEC", raising=False)
    assert main(["train", "--output", str(tmp_path / "m.joblib")]) == EXIT_SPEC
    assert "give --spec FILE or set MODELSERVE_TRAINING_SPEC" in capsys.readouterr().err


def test_output_must_be_an_artifact_file(iris_spec, tmp_path, capsys):
    spec = write_spec(tmp_path, iris_spec)
    assert main(["train", "--spec", str(spec), "--output", str(tmp_path / "model")]) == EXIT_SPEC
    assert "must name a *.joblib" in capsys.readouterr().err


def test_yaml_spec_files_are_read_too(iris_spec, tmp_path):
    import yaml

    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(iris_spec))
    assert main(["train", "--spec", str(path), "--output", str(tmp_path / "m.joblib")]) == 0


def test_bad_spec_and_bad_data_exit_with_codes_the_job_does_not_retry(iris_spec, tmp_path, capsys):
    iris_spec["estimator"]["params"] = {"C": "a lot"}
    spec = write_spec(tmp_path, iris_spec)
    assert main(["train", "--spec", str(spec), "--output", str(tmp_path / "m.joblib")]) == EXIT_SPEC
    assert "estimator.params: The 'C' parameter" in capsys.readouterr().err

    iris_spec["estimator"]["params"] = {}
    iris_spec["data"] = {"claimName": "data", "path": "nowhere.csv", "target": "y"}
    spec = write_spec(tmp_path, iris_spec)
    code = main(
        [
            "train",
            "--spec",
            str(spec),
            "--output",
            str(tmp_path / "m.joblib"),
            "--data-root",
            str(tmp_path),
        ]
    )
    assert code == EXIT_DATA
    assert "data.path: no file 'nowhere.csv'" in capsys.readouterr().err
    assert not (tmp_path / "m.joblib").exists()


def test_termination_summary_fits_the_kubelets_limit_and_stays_json():
    many_folds = {"strategy": "leaveOneOut", "mean": 0.9, "scores": list(np.linspace(0, 1, 900))}
    document = {
        "result": "succeeded",
        "message": "ok",
        "artifact": {"sha256": "ab" * 32, "path": "/x/model.joblib", "sizeBytes": 10},
        "metrics": {"accuracy": 0.9},
        "crossValidation": many_folds,
    }
    text = termination_summary(document)
    assert len(text.encode()) <= MAX_MESSAGE_BYTES
    parsed = json.loads(text)
    assert parsed["artifact"]["sha256"] == "ab" * 32
    assert parsed["crossValidation"]["mean"] == 0.9 and "scores" not in parsed["crossValidation"]
    huge = termination_summary({**document, "message": "x" * 20000})
    assert len(huge.encode()) <= MAX_MESSAGE_BYTES
    assert json.loads(huge)["artifact"]["sha256"] == "ab" * 32
