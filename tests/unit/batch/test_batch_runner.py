"""The batch runner and merge step on real files, through their Python API."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_helpers import FEATURES, SavedModel, feature_rows, write_csv, write_dataset
from modelserve_scoring.batch import layout
from modelserve_scoring.batch.merge import MergeError, merge_run
from modelserve_scoring.batch.runner import BatchRunner, RunnerSettings
from modelserve_scoring.batch.scorers import ModelScorer, ScriptScorer
from modelserve_scoring.errors import ArtifactError
from modelserve_scoring.runtime.scoring_script import ScoringScript
from modelserve_scoring.runtime.sklearn_runtime import SklearnRuntime


def model_scorer(model: SavedModel, sha256: str | None = None) -> ModelScorer:
    runtime = SklearnRuntime(model.artifact, sha256 or model.sha256)
    runtime.load()
    return ModelScorer(runtime)


def script_scorer(tmp_path: Path, source: str) -> ScriptScorer:
    path = tmp_path / "score.py"
    path.write_text(textwrap.dedent(source))
    script = ScoringScript(path, None)
    script.load()
    return ScriptScorer(script)


def settings(tmp_path: Path, **overrides) -> RunnerSettings:
    values = {
        "input_root": tmp_path / "in",
        "glob": "data/*",
        "run_dir": tmp_path / "out" / "run-1",
        "mini_batch_size": 2,
    }
    values.update(overrides)
    return RunnerSettings(**values)


def run_all(scorer, base: RunnerSettings, instances: int = 1) -> None:
    for index in range(instances):
        fields = {**base.__dict__, "instance_index": index, "instance_count": instances}
        BatchRunner(RunnerSettings(**fields), scorer).run()


def test_csv_with_and_without_header_and_parquet_are_all_scored(tmp_path, array_model):
    inputs = tmp_path / "in"
    with_header = write_csv(inputs / "data/a.csv", feature_rows(4, 1))
    without_header = write_csv(inputs / "data/b.csv", feature_rows(3, 2), header=False)
    parquet_rows = feature_rows(5, 3)
    pq.write_table(
        pa.table(pd.DataFrame(parquet_rows, columns=FEATURES)), inputs / "data/c.parquet"
    )
    base = settings(tmp_path)
    run_all(model_scorer(array_model), base)
    summary = merge_run(base.run_dir, "predictions.csv")

    out = pd.read_csv(base.run_dir / "predictions.csv")
    assert list(out.columns) == ["file", "row", "prediction"]
    assert summary.rows_scored == len(out) == 12
    assert summary.failed_files == {}
    expected = np.concatenate(
        [
            array_model.estimator.predict(pd.read_csv(with_header).to_numpy()),
            array_model.estimator.predict(pd.read_csv(without_header, header=None).to_numpy()),
            array_model.estimator.predict(parquet_rows),
        ]
    )
    assert out["prediction"].tolist() == expected.tolist()
    assert out["file"].tolist() == ["data/a.csv"] * 4 + ["data/b.csv"] * 3 + ["data/c.parquet"] * 5
    assert out["row"].tolist() == [0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3, 4]


def test_columns_named_after_the_model_features_are_matched_by_name(tmp_path, named_model):
    rows = feature_rows(6, 4)
    shuffled = pd.DataFrame(rows, columns=FEATURES)
    shuffled["extra"] = 99.0
    shuffled = shuffled[["x3", "extra", "x1", "x0", "x2"]]
    path = tmp_path / "in/data/shuffled.csv"
    path.parent.mkdir(parents=True)
    shuffled.to_csv(path, index=False)
    base = settings(tmp_path)
    run_all(model_scorer(named_model), base)
    merge_run(base.run_dir, "predictions.csv")
    out = pd.read_csv(base.run_dir / "predictions.csv")
    expected = named_model.estimator.predict(pd.DataFrame(rows, columns=FEATURES))
    assert out["prediction"].tolist() == expected.tolist()


def test_bad_files_are_named_with_why_and_good_files_still_scored(tmp_path, array_model):
    inputs = tmp_path / "in"
    write_csv(inputs / "data/1-good.csv", feature_rows(3, 5))
    (inputs / "data/2-corrupt.parquet").write_bytes(b"PAR1 this is not parquet at all")
    (inputs / "data/3-empty.csv").write_bytes(b"")
    pd.DataFrame(feature_rows(2, 6)[:, :3]).to_csv(inputs / "data/4-three-columns.csv", index=False)
    (inputs / "data/5-words.csv").write_text("x0,x1,x2,x3\n1,2,abc,4\n")
    base = settings(tmp_path, mini_batch_size=2, max_retries=1)
    run_all(model_scorer(array_model), base)
    summary = merge_run(base.run_dir, "predictions.csv")

    assert set(summary.failed_files) == {
        "data/2-corrupt.parquet",
        "data/4-three-columns.csv",
        "data/5-words.csv",
    }
    assert "Parquet" in summary.failed_files["data/2-corrupt.parquet"]
    assert "has 3 columns, the model expects 4" in summary.failed_files["data/4-three-columns.csv"]
    assert "abc" in summary.failed_files["data/5-words.csv"]
    # An empty file has no rows to score; it is not an error.
    assert "data/3-empty.csv" not in summary.failed_files
    out = pd.read_csv(base.run_dir / "predictions.csv")
    assert out["file"].tolist() == ["data/1-good.csv"] * 3
    assert (summary.mini_batches_succeeded, summary.mini_batches_failed) == (0, 3)
    marker = layout.read_json(layout.part_marker(base.run_dir, 0))
    assert marker["tries"] == 2  # the first try and max_retries=1 more


def test_a_file_the_model_refuses_fails_alone_in_its_mini_batch(tmp_path, array_model):
    # The files of a mini-batch go through predict() together; when the model refuses
    # that, only the file it refuses may fail, and the others keep their own rows.
    inputs = tmp_path / "in"
    first, last = feature_rows(3, 1), feature_rows(2, 2)
    write_csv(inputs / "data/a.csv", first)
    with_nan = feature_rows(2, 3)
    with_nan[1, 2] = np.nan
    write_csv(inputs / "data/b.csv", with_nan)
    write_csv(inputs / "data/c.csv", last)
    base = settings(tmp_path, mini_batch_size=3, max_retries=0)
    run_all(model_scorer(array_model), base)
    summary = merge_run(base.run_dir, "predictions.csv")

    assert list(summary.failed_files) == ["data/b.csv"]
    assert "the model refused it" in summary.failed_files["data/b.csv"]
    assert "NaN" in summary.failed_files["data/b.csv"]
    out = pd.read_csv(base.run_dir / "predictions.csv")
    assert out["file"].tolist() == ["data/a.csv"] * 3 + ["data/c.csv"] * 2
    assert out["row"].tolist() == [0, 1, 2, 0, 1]
    expected = array_model.estimator.predict(np.vstack([first, last]))
    assert out["prediction"].tolist() == expected.tolist()


def test_error_threshold_stops_the_run_and_names_the_bad_files(tmp_path, array_model):
    inputs = tmp_path / "in"
    for i in range(6):
        write_csv(inputs / f"data/{i}.csv", feature_rows(2, i))
    for bad in ("data/1.csv", "data/2.csv"):
        (inputs / bad).write_text("x0,x1\n1,2\n")
    base = settings(tmp_path, mini_batch_size=1, max_retries=0, error_threshold=1)
    summary = BatchRunner(base, model_scorer(array_model)).run()

    assert summary.threshold_exceeded
    assert set(summary.failed_files) == {"data/1.csv", "data/2.csv"}
    assert "has 2 columns" in summary.failed_files["data/2.csv"]
    # It stopped at the second bad file: the mini-batches after it were never scored.
    assert not layout.part_marker(base.run_dir, 3).exists()
    with pytest.raises(MergeError, match="never finished"):
        merge_run(base.run_dir, "predictions.csv", error_threshold=1)


def test_error_threshold_minus_one_tolerates_every_failure(tmp_path, array_model):
    inputs = tmp_path / "in"
    for i in range(4):
        (inputs / "data").mkdir(parents=True, exist_ok=True)
        (inputs / f"data/{i}.csv").write_text("a,b\n1,2\n")
    base = settings(tmp_path, max_retries=0, error_threshold=-1)
    summary = BatchRunner(base, model_scorer(array_model)).run()
    assert not summary.threshold_exceeded
    assert len(summary.failed_files) == 4
    merged = merge_run(base.run_dir, "predictions.csv", error_threshold=-1)
    assert not merged.threshold_exceeded and merged.rows_scored == 0


def test_a_failing_mini_batch_is_retried_and_then_succeeds(tmp_path):
    write_dataset(tmp_path / "in", 4)
    scorer = script_scorer(
        tmp_path,
        f"""
        from pathlib import Path
        import pandas as pd
        SEEN = Path({str(tmp_path / "seen")!r})

        def init():
            SEEN.mkdir()

        def run(mini_batch):
            mark = SEEN / Path(mini_batch[0]).name
            if not mark.exists():  # every mini-batch fails on its first try
                mark.touch()
                raise RuntimeError("flaky storage")
            return pd.DataFrame({{"file": [Path(p).name for p in mini_batch]}})
        """,
    )
    base = settings(tmp_path, mini_batch_size=2, max_retries=2)
    run_all(scorer, base)
    summary = merge_run(base.run_dir, "out.csv")
    assert summary.failed_files == {}
    assert summary.mini_batches_succeeded == 2
    assert layout.read_json(layout.part_marker(base.run_dir, 1))["tries"] == 2
    assert pd.read_csv(base.run_dir / "out.csv")["file"].tolist() == [
        f"part-00{i}.csv" for i in range(4)
    ]


def test_a_mini_batch_over_its_timeout_fails_and_the_others_do_not(tmp_path):
    write_dataset(tmp_path / "in", 3)
    scorer = script_scorer(
        tmp_path,
        """
        import time

        def init():
            pass

        def run(mini_batch):
            if any(p.endswith("part-001.csv") for p in mini_batch):
                time.sleep(30)
            return [len(mini_batch)]
        """,
    )
    base = settings(tmp_path, mini_batch_size=1, max_retries=1, retry_timeout_seconds=0.5)
    run_all(scorer, base)
    summary = merge_run(base.run_dir, "out.csv")
    assert summary.failed_files == {"data/part-001.csv": "timed out after 0.5 s"}
    assert (summary.mini_batches_succeeded, summary.mini_batches_failed) == (2, 1)


def test_script_exception_fails_every_file_of_its_mini_batch(tmp_path):
    write_dataset(tmp_path / "in", 2)
    scorer = script_scorer(
        tmp_path,
        """
        def init():
            pass

        def run(mini_batch):
            raise ValueError("no column named price")
        """,
    )
    base = settings(tmp_path, mini_batch_size=2, max_retries=0, action="summaryOnly")
    run_all(scorer, base)
    summary = merge_run(base.run_dir, "out.csv", action="summaryOnly", error_threshold=0)
    assert summary.threshold_exceeded
    assert summary.failed_files["data/part-000.csv"] == (
        "run() raised ValueError: no column named price"
    )
    message = summary.failure_message(0)
    assert "data/part-000.csv" in message and "data/part-001.csv" in message
    assert not (base.run_dir / "out.csv").exists()  # summaryOnly leaves output to the script


def test_output_order_is_the_same_for_one_and_three_instances(tmp_path, array_model):
    write_dataset(tmp_path / "in", 11)
    one = settings(tmp_path, run_dir=tmp_path / "out/one", mini_batch_size=2)
    three = settings(tmp_path, run_dir=tmp_path / "out/three", mini_batch_size=2)
    scorer = model_scorer(array_model)
    run_all(scorer, one, instances=1)
    # Indexes finish in any order in a cluster; run them backwards here.
    for index in (2, 0, 1):
        fields = {**three.__dict__, "instance_index": index, "instance_count": 3}
        BatchRunner(RunnerSettings(**fields), scorer).run()
    merge_run(one.run_dir, "predictions.csv")
    merge_run(three.run_dir, "predictions.csv")
    merged_one = (one.run_dir / "predictions.csv").read_bytes()
    assert merged_one == (three.run_dir / "predictions.csv").read_bytes()
    out = pd.read_csv(one.run_dir / "predictions.csv")
    assert (
        len(out) == len(out.drop_duplicates(["file", "row"])) == sum(5 + i % 3 for i in range(11))
    )


def test_merge_names_the_mini_batches_an_instance_never_finished(tmp_path, array_model):
    write_dataset(tmp_path / "in", 4)
    base = settings(tmp_path, mini_batch_size=1, instance_count=2, instance_index=0)
    BatchRunner(base, model_scorer(array_model)).run()
    with pytest.raises(MergeError, match=r"2 of 4 mini-batches never finished \(numbers 1, 3\)"):
        merge_run(base.run_dir, "predictions.csv")


def test_a_wrong_digest_is_refused_before_unpickling(array_model):
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        model_scorer(array_model, sha256="0" * 64)


def test_invalid_settings_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="mini_batch_size must be at least 1, not 0"):
        settings(tmp_path, mini_batch_size=0)
    with pytest.raises(ValueError, match=r"instance_index must be in \[0, 2\), not 2"):
        settings(tmp_path, instance_index=2, instance_count=2)


def test_a_torn_part_is_scored_again_and_a_corrupted_one_fails_the_merge(tmp_path, array_model):
    write_dataset(tmp_path / "in", 4)
    base = settings(tmp_path, mini_batch_size=2)
    scorer = model_scorer(array_model)
    run_all(scorer, base)
    merge_run(base.run_dir, "predictions.csv")
    complete = (base.run_dir / "predictions.csv").read_bytes()

    part = layout.part_csv(base.run_dir, 1)
    part.write_bytes(part.read_bytes()[:20])  # as a crashed node may leave it
    rerun = BatchRunner(base, scorer).run()
    assert rerun.mini_batches_skipped == 1
    merge_run(base.run_dir, "predictions.csv")
    assert (base.run_dir / "predictions.csv").read_bytes() == complete

    data = bytearray(part.read_bytes())
    data[-2:-1] = b"7" if data[-2:-1] != b"7" else b"8"
    part.write_bytes(bytes(data))
    with pytest.raises(MergeError, match=r"mb-000001\.csv does not match the digest"):
        merge_run(base.run_dir, "predictions.csv")
