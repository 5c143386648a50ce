"""What scores one mini-batch: the model's own predict() or a user's run(mini_batch)."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from modelserve_scoring.batch.attempt import Attempt
from modelserve_scoring.batch.readers import (
    InputFileError,
    ModelColumns,
    read_table,
    select_features,
)

_WRITE_OPTIONS = pa_csv.WriteOptions(quoting_style="needed")


def _csv_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pa_csv.write_csv(table, sink, write_options=_WRITE_OPTIONS)
    return sink.getvalue()


def _reader_threads() -> int:
    # The CPUs this process may run on (a pod's cpuset), not the whole machine's.
    return max(1, min(4, len(os.sched_getaffinity(0))))


class ModelScorer:
    """The default runner: every row of every file through the model's predict().

    The files of a mini-batch are parsed in parallel (Arrow's CSV and Parquet readers
    release the GIL, and a small file keeps few of their own threads busy).
    """

    def __init__(self, runtime: Any, reader_threads: int | None = None) -> None:
        self.runtime = runtime
        names = runtime.feature_names
        self.columns = ModelColumns(runtime.n_features, tuple(names) if names else None)
        self.reader_threads = reader_threads or _reader_threads()

    def _features(self, path: Path) -> np.ndarray:
        try:
            table = read_table(path)
        except OSError as error:
            raise InputFileError(f"cannot read: {error.strerror or error}") from None
        if table is None or table.num_rows == 0:
            return np.empty((0, 0))
        return select_features(table, self.columns)

    def _predict(self, features: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(self.runtime.predict(features))
        except Exception as error:  # the model's own complaint is the useful message
            raise InputFileError(f"the model refused it: {error}") from None

    def _read_all(
        self, input_root: Path, files: tuple[str, ...], failed: dict[str, str]
    ) -> list[tuple[str, np.ndarray]]:
        """The feature matrix of each readable file, in mini-batch order."""
        outcomes: list[np.ndarray | BaseException | None] = [None] * len(files)
        gate = threading.BoundedSemaphore(self.reader_threads)

        def read(index: int) -> None:
            with gate:
                try:
                    outcomes[index] = self._features(input_root / files[index])
                except BaseException as error:  # handed to the caller's thread below
                    outcomes[index] = error

        # Daemon threads, like the runner's attempts: a read stuck on a dead volume must
        # not keep the process from exiting once the runner has given up on it.
        readers = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(len(files))]
        for thread in readers:
            thread.start()
        for thread in readers:
            thread.join()
        readable = []
        for name, outcome in zip(files, outcomes, strict=True):
            if isinstance(outcome, InputFileError):
                failed[name] = str(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                assert outcome is not None
                readable.append((name, outcome))
        return readable

    def _predict_files(
        self, readable: list[tuple[str, np.ndarray]], failed: dict[str, str]
    ) -> list[tuple[str, np.ndarray]]:
        """Predictions per file with rows (one call each: a refused file fails alone)."""
        predicted = []
        for name, features in readable:
            if not len(features):
                continue
            try:
                predicted.append((name, self._predict(features)))
            except InputFileError as error:
                failed[name] = str(error)
        return predicted

    def score(self, input_root: Path, files: tuple[str, ...], with_rows: bool) -> Attempt:
        """Predict each file; a failing file is recorded and the others still count."""
        attempt = Attempt()
        readable = self._read_all(input_root, files, attempt.failed_files)
        predicted = self._predict_files(readable, attempt.failed_files)
        tables = []
        for name, predictions in predicted:
            attempt.rows += len(predictions)
            if with_rows:
                tables.append(
                    pa.table(
                        {
                            # One dictionary entry per file instead of a string per row.
                            "file": pa.DictionaryArray.from_arrays(
                                np.zeros(len(predictions), dtype=np.int32), pa.array([name])
                            ),
                            "row": pa.array(np.arange(len(predictions), dtype=np.int64)),
                            "prediction": pa.array(predictions),
                        }
                    )
                )
        if with_rows and tables:
            attempt.csv = _csv_bytes(pa.concat_tables(tables, promote_options="permissive"))
        return attempt


class ScriptScorer:
    """A user's scoring script: run(mini_batch) gets the paths and returns a DataFrame or list."""

    def __init__(self, script: Any) -> None:
        self.script = script

    def score(self, input_root: Path, files: tuple[str, ...], with_rows: bool) -> Attempt:
        """Call run(); if it raises, every file of the mini-batch failed with its message."""
        import pandas as pd

        paths = [str(input_root / name) for name in files]
        try:
            result = self.script.run(paths)
        except Exception as error:
            reason = f"run() raised {type(error).__name__}: {error}"
            return Attempt(failed_files={name: reason for name in files})
        if result is None:
            return Attempt()
        frame = result if isinstance(result, pd.DataFrame) else _list_frame(result)
        data = frame.to_csv(index=False).encode() if with_rows and len(frame) else b""
        return Attempt(rows=len(frame), csv=data)


def _list_frame(result: Any) -> Any:
    import pandas as pd

    items = list(result)
    if items and all(isinstance(item, (list, tuple)) for item in items):
        return pd.DataFrame(items)
    return pd.DataFrame({"result": items})
