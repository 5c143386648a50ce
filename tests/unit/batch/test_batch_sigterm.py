"""The batch runner stops when told (issue 16, item 14): SIGTERM to a real runner process ends it
with status 143 instead of being ignored (it runs as PID 1 in its pod), the mini-batch in hand is
finished or abandoned, and a rerun completes the output with every row exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
from batch_helpers import SavedModel, write_dataset
from modelserve_scoring.batch import layout
from modelserve_scoring.batch.cli import main
from test_batch_cli import wait_until

# run() holds any mini-batch holding a file named in hold/, until release/<name> exists
GATED_SCRIPT = """
import glob, os, time
from pathlib import Path
import joblib
import pandas as pd

CONTROL = Path(__file__).parent

def init():
    global model
    model = joblib.load(glob.glob(os.path.join(os.environ["MODELSERVE_MODEL_DIR"], "*.joblib"))[0])

def run(mini_batch):
    frames = []
    for path in mini_batch:
        name = os.path.basename(path)
        if (CONTROL / "hold" / name).exists():
            (CONTROL / "started" / name).touch()
            while not (CONTROL / "release" / name).exists():
                time.sleep(0.01)
        rows = pd.read_csv(path)
        frames.append(pd.DataFrame({
            "file": name, "row": range(len(rows)), "prediction": model.predict(rows.to_numpy()),
        }))
    return pd.concat(frames)
"""


def _setup(tmp_path: Path, held: str) -> dict[str, object]:
    inputs = write_dataset(tmp_path / "in", 6)
    (tmp_path / "score.py").write_text(GATED_SCRIPT)
    for directory in ("hold", "started", "release"):
        (tmp_path / directory).mkdir()
    (tmp_path / "hold" / held).touch()
    return inputs


def _command(tmp_path: Path, model: SavedModel, grace: float) -> list[str]:
    return [
        sys.executable, "-m", "modelserve_scoring.batch", "batch",
        "--input-root", str(tmp_path / "in"),
        "--glob", "data/*.csv",
        "--run-dir", str(tmp_path / "out/run"),
        "--mini-batch-size", "1",
        "--model-dir", str(model.artifact.parent),
        "--artifact-sha256", model.sha256,
        "--scoring-script", str(tmp_path / "score.py"),
        "--stop-grace-seconds", str(grace),
        "--termination-message-path", str(tmp_path / "termination-log"),
    ]  # fmt: skip


def _markers(tmp_path: Path) -> set[str]:
    parts = tmp_path / "out/run" / layout.PARTS_DIR
    return {layout.read_json(m)["files"][0] for m in parts.glob("mb-*.json")}


def _assert_exactly_once(tmp_path: Path, inputs: dict) -> None:
    assert main(["batch-merge", "--run-dir", str(tmp_path / "out/run")]) == 0
    out = pd.read_csv(tmp_path / "out/run/predictions.csv")
    pairs = list(zip(out["file"], out["row"], strict=True))
    expected = {(Path(name).name, row) for name, rows in inputs.items() for row in range(len(rows))}
    assert len(pairs) == len(set(pairs)) == len(expected)
    assert set(pairs) == expected


def test_sigterm_abandons_the_mini_batch_in_hand_and_a_rerun_completes(tmp_path, array_model):
    held = "part-002.csv"
    inputs = _setup(tmp_path, held)
    (tmp_path / "termination-log").touch()
    runner = subprocess.Popen(_command(tmp_path, array_model, 0.5), stderr=subprocess.PIPE)
    wait_until((tmp_path / "started" / held).exists, "the held mini-batch to start")
    runner.send_signal(signal.SIGTERM)
    _, stderr = runner.communicate(timeout=60)
    assert runner.returncode == 143, stderr.decode()
    assert b"stopped by SIGTERM" in stderr
    assert json.loads((tmp_path / "termination-log").read_text())["terminated"] is True
    done = _markers(tmp_path)
    assert done == {"data/part-000.csv", "data/part-001.csv"}, "abandoned, and nothing after it"
    assert not layout.index_summary(tmp_path / "out/run", 0).exists()

    (tmp_path / "release" / held).touch()
    rerun = subprocess.run(_command(tmp_path, array_model, 0.5), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    summary = layout.read_json(layout.index_summary(tmp_path / "out/run", 0))
    assert summary["miniBatchesAlreadyDone"] == 2
    _assert_exactly_once(tmp_path, inputs)


def test_sigterm_lets_the_mini_batch_in_hand_finish_within_the_grace(tmp_path, array_model):
    held = "part-001.csv"
    inputs = _setup(tmp_path, held)
    runner = subprocess.Popen(_command(tmp_path, array_model, 60), stderr=subprocess.PIPE)
    wait_until((tmp_path / "started" / held).exists, "the held mini-batch to start")
    runner.send_signal(signal.SIGTERM)
    (tmp_path / "release" / held).touch()
    _, stderr = runner.communicate(timeout=60)
    assert runner.returncode == 143, stderr.decode()
    assert _markers(tmp_path) == {"data/part-000.csv", "data/part-001.csv"}

    rerun = subprocess.run(_command(tmp_path, array_model, 60), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    _assert_exactly_once(tmp_path, inputs)


def test_sigterm_before_scoring_stops_at_once(tmp_path, array_model):
    """While the model loads (a slow init() here), SIGTERM ends the process right away."""
    write_dataset(tmp_path / "in", 2)
    (tmp_path / "score.py").write_text(
        "import time\n\n"
        "def init():\n"
        "    open(__file__ + '.init', 'w').close()\n"
        "    time.sleep(600)\n\n"
        "def run(mini_batch):\n"
        "    return []\n"
    )
    runner = subprocess.Popen(_command(tmp_path, array_model, 60), stderr=subprocess.PIPE)
    wait_until(Path(str(tmp_path / "score.py") + ".init").exists, "init() to start")
    runner.send_signal(signal.SIGTERM)
    _, stderr = runner.communicate(timeout=60)
    assert runner.returncode == 143, stderr.decode()
    assert not (tmp_path / "out/run/parts").exists()
