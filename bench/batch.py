"""Batch benchmark: rows/s of the batch runner (1 and 2 instances, then merge) against a bare loop.

Run with the project's venv:  .venv/bin/python bench/batch.py [--files 100 --rows 1000000]
The bare loop is `pandas.read_csv` + `model.predict` over the same files, writing nothing;
the runner also writes every prediction and merges the parts into one file.
Goal: one instance reaches 80 % of the bare loop's rows/s. Two comparisons, each on equal
footing: both in-process (no interpreter start), and both as fresh processes (interpreter
and library start-up included, as a pod pays them once per run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from models import N_FEATURES, SEED, build_model

COLUMNS = [f"f{i}" for i in range(N_FEATURES)]


def write_inputs(root: Path, files: int, rows: int) -> int:
    """`files` CSV files with a header, `rows` rows in all; returns the row count."""
    per_file = rows // files
    rng = np.random.default_rng(SEED)
    (root / "data").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        values = np.round(rng.normal(size=(per_file, N_FEATURES)), 6)
        table = pa.table({name: values[:, j] for j, name in enumerate(COLUMNS)})
        pa_csv.write_csv(table, root / "data" / f"part-{i:04d}.csv")
    return per_file * files


def bare_loop(input_root: Path, artifact: Path) -> int:
    model = joblib.load(artifact)
    rows = 0
    for path in sorted((input_root / "data").glob("*.csv")):
        frame = pd.read_csv(path)
        rows += len(model.predict(frame.to_numpy()))
    return rows


def bare_loop_process(input_root: Path, artifact: Path) -> int:
    """The bare loop in a fresh interpreter: the same start-up the runner's process pays."""
    command = [sys.executable, __file__, "--bare-loop-only", str(input_root), str(artifact)]
    return int(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def runner_command(input_root: Path, run_dir: Path, artifact: Path, sha256: str) -> list[str]:
    return [
        sys.executable, "-m", "modelserve_scoring.batch", "batch",
        "--input-root", str(input_root),
        "--glob", "data/*.csv",
        "--run-dir", str(run_dir),
        "--mini-batch-size", "10",
        "--artifact-path", str(artifact),
        "--artifact-sha256", sha256,
        "--log-level", "warning",
    ]  # fmt: skip


def runner(input_root: Path, run_dir: Path, artifact: Path, sha256: str, instances: int) -> int:
    """Instances as separate processes in parallel (as pods would be), then the merge."""
    command = runner_command(input_root, run_dir, artifact, sha256)
    workers = [
        subprocess.Popen([*command, "--instance-index", str(i), "--instance-count", str(instances)])
        for i in range(instances)
    ]
    for worker in workers:
        if worker.wait() != 0:
            raise SystemExit(f"runner instance exited with {worker.returncode}")
    merge = [sys.executable, "-m", "modelserve_scoring.batch", "batch-merge", "--run-dir"]
    subprocess.run([*merge, str(run_dir)], check=True, stdout=subprocess.DEVNULL)
    summary = json.loads((run_dir / "summary.json").read_text())
    return summary["rowsScored"]


def runner_in_process(input_root: Path, run_dir: Path, artifact: Path, sha256: str) -> int:
    """One instance through the Python API: no interpreter start, like the bare loop."""
    from modelserve_scoring.batch.merge import merge_run
    from modelserve_scoring.batch.runner import BatchRunner, RunnerSettings
    from modelserve_scoring.batch.scorers import ModelScorer
    from modelserve_scoring.runtime.sklearn_runtime import SklearnRuntime

    runtime = SklearnRuntime(artifact, sha256)
    runtime.load()
    settings = RunnerSettings(input_root=input_root, glob="data/*.csv", run_dir=run_dir)
    BatchRunner(settings, ModelScorer(runtime)).run()
    return merge_run(run_dir, "predictions.csv").rows_scored


def timed(work) -> tuple[float, int]:
    started = time.perf_counter()
    rows = work()
    return time.perf_counter() - started, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--bare-loop-only", nargs=2, metavar=("INPUT_ROOT", "ARTIFACT"))
    args = parser.parse_args()
    if args.bare_loop_only:
        print(bare_loop(Path(args.bare_loop_only[0]), Path(args.bare_loop_only[1])))
        return 0

    work = Path(tempfile.mkdtemp(prefix="modelserve-bench-batch-"))
    try:
        model = build_model("logreg", work / "models")
        total = write_inputs(work / "in", args.files, args.rows)
        print(
            f"{total} rows in {args.files} CSV files, LogisticRegression with {N_FEATURES} features"
        )
        results: dict[str, list[float]] = {
            "bare loop": [],
            "runner x1 in-process": [],
            "bare loop process": [],
            "runner x1": [],
            "runner x2": [],
        }
        for round_ in range(args.rounds):
            elapsed, rows = timed(lambda: bare_loop(work / "in", model.artifact))
            assert rows == total, rows
            results["bare loop"].append(rows / elapsed)
            run_dir = work / "out" / f"round{round_}-inproc"
            elapsed, rows = timed(
                lambda run_dir=run_dir: runner_in_process(
                    work / "in", run_dir, model.artifact, model.sha256
                )
            )
            assert rows == total, rows
            results["runner x1 in-process"].append(rows / elapsed)
            shutil.rmtree(run_dir)
            elapsed, rows = timed(lambda: bare_loop_process(work / "in", model.artifact))
            assert rows == total, rows
            results["bare loop process"].append(rows / elapsed)
            for instances in (1, 2):
                run_dir = work / "out" / f"round{round_}-x{instances}"
                elapsed, rows = timed(
                    lambda run_dir=run_dir, instances=instances: runner(
                        work / "in", run_dir, model.artifact, model.sha256, instances
                    )
                )
                assert rows == total, rows
                results[f"runner x{instances}"].append(rows / elapsed)
                shutil.rmtree(run_dir)
        medians = {name: statistics.median(values) for name, values in results.items()}
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"{'':22} {'median rows/s':>14}   rounds")
        for name, value in medians.items():
            rounds = ", ".join(f"{v:,.0f}" for v in results[name])
            print(f"{name:22} {value:>14,.0f}   {rounds}")
        # Like with like: in-process against in-process, process against process.
        for name, baseline in (
            ("runner x1 in-process", "bare loop"),
            ("runner x1", "bare loop process"),
            ("runner x1", "bare loop"),
        ):
            ratio = medians[name] / medians[baseline]
            verdict = "meets" if ratio >= 0.8 else "misses"
            print(f"{name} / {baseline} = {ratio:.0%} ({verdict} the 80 % goal)")
        return 0
    finally:
        if args.keep:
            print(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
