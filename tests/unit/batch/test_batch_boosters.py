"""The batch runner over LightGBM models, as two instances of a Job: every row once, with
LightGBM's own answers (its float32 graph is refused, as the online pods refuse it)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from batch_helpers import FEATURES, batch, feature_rows, write_csv
from modelserve_scoring.batch.cli import main
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def _training() -> tuple[np.ndarray, np.ndarray]:
    rows = feature_rows(400, seed=21)
    three = np.digitize(rows[:, 0] - rows[:, 2], [-0.5, 0.5])
    rows[np.random.default_rng(22).random(rows.shape) < 0.1] = np.nan
    return rows, three


def _native_txt(directory: Path) -> tuple[Path, object]:
    rows, three = _training()
    model = lgb.LGBMClassifier(n_estimators=12, num_leaves=8, verbose=-1).fit(rows, three)
    artifact = directory / "model.txt"
    model.booster_.save_model(artifact)
    return artifact, model


def _pipeline_joblib(directory: Path) -> tuple[Path, object]:
    rows, three = _training()
    labels = np.array(["low", "mid", "high"])[three]  # labels a native file cannot hold
    model = make_pipeline(
        StandardScaler(), lgb.LGBMClassifier(n_estimators=12, num_leaves=8, verbose=-1)
    ).fit(pd.DataFrame(rows, columns=FEATURES), labels)
    artifact = directory / "model.joblib"
    joblib.dump(model, artifact)
    return artifact, model


def _inputs(root: Path, files: int) -> dict[str, np.ndarray]:
    """CSV files with a few empty cells (missing values, which the trees route themselves)."""
    written = {}
    for i in range(files):
        rows = feature_rows(30 + i, seed=100 + i)
        rows[np.random.default_rng(200 + i).random(rows.shape) < 0.05] = np.nan
        name = f"data/part-{i:03d}.csv"
        write_csv(root / name, rows)
        written[name] = rows
    return written


@pytest.mark.parametrize("save", [_native_txt, _pipeline_joblib], ids=["native-txt", "pipeline"])
def test_two_instances_score_every_row_once_with_lightgbms_answers(tmp_path, save):
    (tmp_path / "model").mkdir()
    artifact, model = save(tmp_path / "model")
    sha256 = hashlib.sha256(artifact.read_bytes()).hexdigest()
    inputs = _inputs(tmp_path / "in", 5)
    run_dir = tmp_path / "out" / "run"

    def instance(index: int) -> list[str]:
        return batch(
            "batch",
            "--input-root", str(tmp_path / "in"),
            "--glob", "data/*.csv",
            "--run-dir", str(run_dir),
            "--mini-batch-size", "2",
            "--instance-index", str(index),
            "--instance-count", "2",
            # as the operator passes them to the Job's pods
            "--model-dir", str(artifact.parent),
            "--artifact-path", str(artifact),
            "--artifact-sha256", sha256,
            "--runtime", "auto",
            "--termination-message-path", str(tmp_path / f"termination-{index}"),
        )  # fmt: skip

    # the two instances of an indexed Job run side by side
    processes = [subprocess.Popen(instance(i), stderr=subprocess.PIPE, text=True) for i in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        # the same choice as an online pod: the checked float64 ONNX graph
        assert "scoring with onnx" in stderr and "double precision" in stderr, stderr
    message = tmp_path / "termination-merge"
    message.touch()  # the kubelet makes it; the merge writes the run's totals into it
    assert main(["batch-merge", "--run-dir", str(run_dir), "--termination-message-path",
                 str(message)]) == 0  # fmt: skip

    out = pd.read_csv(run_dir / "predictions.csv", keep_default_na=False)
    pairs = list(zip(out["file"], out["row"], strict=True))
    expected = {(name, row) for name, rows in inputs.items() for row in range(len(rows))}
    assert len(pairs) == len(set(pairs)) == len(expected)
    assert set(pairs) == expected
    for name, rows in inputs.items():
        got = out[out["file"] == name].sort_values("row")["prediction"]
        frame = pd.DataFrame(rows, columns=FEATURES) if save is _pipeline_joblib else rows
        assert got.astype(str).tolist() == [str(p) for p in model.predict(frame)], name
    summary = json.loads(message.read_text())
    assert summary["rowsScored"] == len(expected)


def test_the_framework_the_operator_sets_finds_a_native_file_in_the_model_dir(tmp_path):
    """The Job's pods get MODELSERVE_FRAMEWORK; given only --model-dir, the runner finds the
    booster's own file there as the scoring server does."""
    (tmp_path / "model").mkdir()
    artifact, model = _native_txt(tmp_path / "model")
    inputs = _inputs(tmp_path / "in", 1)
    run_dir = tmp_path / "run"
    command = batch(
        "batch",
        "--input-root", str(tmp_path / "in"),
        "--run-dir", str(run_dir),
        "--model-dir", str(artifact.parent),
        "--artifact-sha256", hashlib.sha256(artifact.read_bytes()).hexdigest(),
        "--runtime", "sklearn",
        "--termination-message-path", str(tmp_path / "termination"),
    )  # fmt: skip
    env = {**os.environ, "MODELSERVE_FRAMEWORK": "lightgbm"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert main(["batch-merge", "--run-dir", str(run_dir), "--termination-message-path",
                 str(tmp_path / "termination-merge")]) == 0  # fmt: skip
    (rows,) = inputs.values()
    out = pd.read_csv(run_dir / "predictions.csv")
    assert out.sort_values("row")["prediction"].tolist() == model.predict(rows).tolist()
