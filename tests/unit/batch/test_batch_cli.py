"""The batch runner as a process: killed mid-run and rerun, threshold exit, termination message."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pandas as pd
import xgboost
from batch_helpers import SavedModel, batch, feature_rows, write_dataset
from modelserve_scoring.batch import layout
from modelserve_scoring.batch.cli import main
from modelserve_scoring.batch.report import MAX_MESSAGE_BYTES, compact

# A scoring script in the familiar contract; it is slow on purpose so a kill lands mid-run.
SLOW_SCRIPT = """
import glob, os, time
import joblib
import pandas as pd

def init():
    global model
    model = joblib.load(glob.glob(os.path.join(os.environ["MODELSERVE_MODEL_DIR"], "*.joblib"))[0])

def run(mini_batch):
    time.sleep(0.2)
    frames = []
    for path in mini_batch:
        rows = pd.read_csv(path)
        frames.append(pd.DataFrame({
            "file": os.path.basename(path),
            "row": range(len(rows)),
            "prediction": model.predict(rows.to_numpy()),
        }))
    return pd.concat(frames)
"""


def run_args(tmp_path: Path, model: SavedModel, index: int, count: int) -> list[str]:
    return batch(
        "batch",
        "--input-root", str(tmp_path / "in"),
        "--glob", "data/*.csv",
        "--run-dir", str(tmp_path / "out/run"),
        "--mini-batch-size", "2",
        "--instance-index", str(index),
        "--instance-count", str(count),
        "--model-dir", str(model.artifact.parent),
        "--artifact-sha256", model.sha256,
        "--scoring-script", str(tmp_path / "score.py"),
    )  # fmt: skip


def wait_until(check, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_instance_rerun_loses_and_duplicates_nothing(tmp_path, array_model):
    inputs = write_dataset(tmp_path / "in", 40)
    (tmp_path / "score.py").write_text(SLOW_SCRIPT)
    parts = tmp_path / "out/run" / layout.PARTS_DIR
    # The other instance runs in-process (one interpreter start less on a busy machine).
    assert main(run_args(tmp_path, array_model, 1, 2)[3:]) == 0

    victim = subprocess.Popen(run_args(tmp_path, array_model, 0, 2), stderr=subprocess.PIPE)
    wait_until(lambda: len(list(parts.glob("mb-*.json"))) >= 13, "index 0 to finish 3 mini-batches")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    done_before_rerun = len(list(parts.glob("mb-*.json")))
    assert done_before_rerun < 20, "index 0 finished before it could be killed"

    rerun = subprocess.run(run_args(tmp_path, array_model, 0, 2), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    index_summary = layout.read_json(layout.index_summary(tmp_path / "out/run", 0))
    assert index_summary["miniBatchesAlreadyDone"] == done_before_rerun - 10

    assert main(["batch-merge", "--run-dir", str(tmp_path / "out/run")]) == 0
    out = pd.read_csv(tmp_path / "out/run/predictions.csv")
    expected = {(Path(name).name, row) for name, rows in inputs.items() for row in range(len(rows))}
    pairs = list(zip(out["file"], out["row"], strict=True))
    assert len(pairs) == len(set(pairs)) == len(expected)
    assert set(pairs) == expected
    assert pairs == sorted(pairs)


def test_threshold_exit_code_and_termination_message_name_the_bad_files(tmp_path, array_model):
    write_dataset(tmp_path / "in", 3)
    (tmp_path / "in/data/part-001.csv").write_text("x0,x1\n1,2\n")
    (tmp_path / "in/data/part-002.csv").write_bytes(b"\x00\x01garbage,\n\xff")
    message = tmp_path / "termination-log"
    message.touch()
    result = subprocess.run(
        batch(
            "batch",
            "--input-root",
            str(tmp_path / "in"),
            "--run-dir",
            str(tmp_path / "out/run"),
            "--glob",
            "data/*.csv",
            "--mini-batch-size",
            "1",
            "--max-retries",
            "0",
            "--error-threshold",
            "1",
            "--artifact-path",
            str(array_model.artifact),
            "--artifact-sha256",
            array_model.sha256,
            "--termination-message-path",
            str(message),
        ),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 3, result.stderr
    assert "2 file(s) failed, more than errorThreshold 1" in result.stderr
    assert "data/part-001.csv: has 2 columns, the model expects 4" in result.stderr
    assert "data/part-002.csv" in result.stderr
    reported = json.loads(message.read_text())
    assert reported["thresholdExceeded"] is True
    assert set(reported["failedFiles"]) == {"data/part-001.csv", "data/part-002.csv"}


def test_wrong_digest_exits_nonzero_without_scoring(tmp_path, array_model):
    write_dataset(tmp_path / "in", 1)
    result = subprocess.run(
        batch(
            "batch",
            "--input-root",
            str(tmp_path / "in"),
            "--run-dir",
            str(tmp_path / "out/run"),
            "--artifact-path",
            str(array_model.artifact),
            "--artifact-sha256",
            "f" * 64,
        ),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "sha256 mismatch" in result.stderr
    assert not (tmp_path / "out/run/parts").exists()


def test_a_model_dir_with_two_artifacts_is_refused_naming_the_runners_own_flag(
    tmp_path, array_model
):
    write_dataset(tmp_path / "in", 1)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in ("a.joblib", "b.joblib"):
        (model_dir / name).write_bytes(array_model.artifact.read_bytes())
    argv = batch(
        "batch",
        "--input-root", str(tmp_path / "in"),
        "--run-dir", str(tmp_path / "out/run"),
        "--model-dir", str(model_dir),
        "--artifact-sha256", array_model.sha256,
    )  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert "expected exactly one" in result.stderr and "pass --artifact-path" in result.stderr
    # The server's variable means nothing to a batch runner's user.
    assert "MODELSERVE_ARTIFACT_PATH" not in result.stderr


def test_termination_message_stays_under_the_kubelet_limit():
    failed = {f"data/file-{i:05d}.csv": "has 3 columns, the model expects 4" for i in range(500)}
    text = compact({"rowsScored": 10, "failedFiles": failed})
    document = json.loads(text)
    assert len(text.encode()) <= MAX_MESSAGE_BYTES
    assert document["failedFileCount"] == 500
    assert 0 < len(document["failedFiles"]) < 500
    assert textwrap.shorten(text, 10)  # still valid, non-empty JSON


def _score_with(tmp_path: Path, model: SavedModel, runtime: str) -> subprocess.CompletedProcess:
    run_dir = tmp_path / runtime / "run"
    command = batch(
        "batch",
        "--input-root", str(tmp_path / "in"),
        "--glob", "data/*.csv",
        "--run-dir", str(run_dir),
        "--artifact-path", str(model.artifact),
        "--artifact-sha256", model.sha256,
        "--runtime", runtime,
    )  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True)


def test_a_run_scores_with_onnx_runtime_as_the_endpoint_would_with_the_same_answers(
    tmp_path, array_model
):
    inputs = write_dataset(tmp_path / "in", 3, rows_per_file=40)
    for runtime in ("auto", "sklearn"):
        result = _score_with(tmp_path, array_model, runtime)
        assert result.returncode == 0, result.stderr
        served_by = "onnx" if runtime == "auto" else "sklearn"
        assert f"scoring with {served_by}" in result.stderr
        run_dir = tmp_path / runtime / "run"
        assert main(["batch-merge", "--run-dir", str(run_dir)]) == 0
        out = pd.read_csv(run_dir / "predictions.csv")
        for name, rows in inputs.items():
            got = out[out["file"] == name].sort_values("row")["prediction"].to_numpy()
            assert list(got) == list(array_model.estimator.predict(rows)), name


def test_a_native_xgboost_file_is_scored_compiled_with_xgboosts_answers(tmp_path):
    rows = feature_rows(300, seed=11)
    labels = (rows[:, 0] - rows[:, 2] > 0).astype(int)
    booster = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(rows, labels)
    artifact = tmp_path / "model" / "model.json"
    artifact.parent.mkdir()
    booster.save_model(artifact)
    sha256 = hashlib.sha256(artifact.read_bytes()).hexdigest()
    inputs = write_dataset(tmp_path / "in", 2, rows_per_file=50)
    model = SavedModel(artifact, sha256, booster)
    result = _score_with(tmp_path, model, "auto")
    assert result.returncode == 0, result.stderr
    assert "scoring with onnx" in result.stderr
    run_dir = tmp_path / "auto" / "run"
    assert main(["batch-merge", "--run-dir", str(run_dir)]) == 0
    out = pd.read_csv(run_dir / "predictions.csv")
    for name, rows_of_file in inputs.items():
        got = out[out["file"] == name].sort_values("row")["prediction"].to_numpy()
        assert list(got) == list(booster.predict(rows_of_file)), name
