"""What scores one mini-batch: the model's own predict() or a user's run(mini_batch)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from modelserve_scoring.batch.readers import (
    InputFileError,
    ModelColumns,
    read_table,
    select_features,
)

_WRITE_OPTIONS = pa_csv.WriteOptions(quoting_style="needed")


@dataclass
class Attempt:
    """One try at a mini-batch: the CSV rows it produced and the files that failed, with why."""

    rows: int = 0
    csv: bytes = b""
    failed_files: dict[str, str] = field(default_factory=dict)


class MiniBatchScorer(Protocol):
    """Scores the files of one mini-batch (paths relative to the input root)."""

    def score(self, input_root: Path, files: tuple[str, ...], with_rows: bool) -> Attempt: ...


def _csv_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pa_csv.write_csv(table, sink, write_options=_WRITE_OPTIONS)
    return sink.getvalue()


class ModelScorer:
    """The default runner: every row of every file through the model's predict()."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        names = runtime.feature_names
        self.columns = ModelColumns(runtime.n_features, tuple(names) if names else None)

    def _predict_file(self, path: Path) -> np.ndarray:
        try:
            table = read_table(path)
        except OSError as error:
            raise InputFileError(f"cannot read: {error.strerror or error}") from None
        if table is None or table.num_rows == 0:
            return np.empty(0)
        features = select_features(table, self.columns)
        try:
            return np.asarray(self.runtime.predict(features))
        except Exception as error:  # the model's own complaint is the useful message
            raise InputFileError(f"the model refused it: {error}") from None

    def score(self, input_root: Path, files: tuple[str, ...], with_rows: bool) -> Attempt:
        """Predict each file; a failing file is recorded and the others still count."""
        attempt = Attempt()
        tables = []
        for name in files:
            try:
                predictions = self._predict_file(input_root / name)
            except InputFileError as error:
                attempt.failed_files[name] = str(error)
                continue
            attempt.rows += len(predictions)
            if with_rows and len(predictions):
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
