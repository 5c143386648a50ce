"""Read one CSV or Parquet input file into the feature matrix a model expects."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

_SNIFF_BYTES = 64 * 1024


class InputFileError(Exception):
    """A file that cannot be scored; the message says why, in terms a user can act on."""


@dataclass(frozen=True)
class ModelColumns:
    """What the model says about its input: the count and, if it was fit on a frame, names."""

    n_features: int | None
    feature_names: tuple[str, ...] | None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_line(path: Path) -> list[str] | None:
    """Fields of the first line, or None for an empty file."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    line = text.splitlines()[0] if text.strip() else ""
    if not line.strip():
        return None
    return next(csv.reader(io.StringIO(line)))


def _read_csv(path: Path) -> pa.Table | None:
    first = _first_line(path)
    if first is None:
        return None
    # A first line made only of numbers is data; anything else is a header.
    has_header = not all(_is_number(field) for field in first)
    read_options = pa_csv.ReadOptions(autogenerate_column_names=not has_header)
    try:
        return pa_csv.read_csv(path, read_options=read_options)
    except pa.ArrowInvalid as error:
        raise InputFileError(f"not a readable CSV file: {error}") from None


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise InputFileError(f"not a readable Parquet file: {error}") from None


def read_table(path: Path) -> pa.Table | None:
    """The file's rows as an Arrow table (None for an empty file)."""
    if path.stat().st_size == 0:
        return None
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path)
    return _read_csv(path)


def _generated_names(table: pa.Table) -> bool:
    return all(name == f"f{i}" for i, name in enumerate(table.column_names))


def select_features(table: pa.Table, model: ModelColumns) -> np.ndarray:
    """The 2-D float matrix in the model's column order: by name where the names match."""
    names = table.column_names
    if model.feature_names and not _generated_names(table):
        wanted = list(model.feature_names)
        missing = [n for n in wanted if n not in names]
        if not missing:
            table = table.select(wanted)
        elif len(missing) < len(wanted):
            raise InputFileError(
                f"columns {', '.join(missing)} are missing (the model was fit on "
                f"{', '.join(wanted)})"
            )
    expected = model.n_features
    if expected is not None and table.num_columns != expected:
        raise InputFileError(f"has {table.num_columns} columns, the model expects {expected}")
    if table.num_columns == 0 or table.num_rows == 0:
        return np.empty((table.num_rows, table.num_columns))
    try:
        # One copy, inside Arrow and from its memory pool: several times faster than a
        # NumPy copy per column and a column_stack (fresh pages for every file).
        # Column-major, which predict() takes as it is; nulls become NaN, ints are cast.
        batch = table.combine_chunks().to_batches()[0]
        matrix = batch.to_tensor(row_major=False, null_to_nan=True).to_numpy()
        return np.asarray(matrix, dtype=np.float64)
    except (pa.ArrowTypeError, pa.ArrowNotImplementedError, pa.ArrowInvalid):
        pass  # a column that is not numeric: the slow path names the value
    try:
        columns = [
            np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
            for column in table.columns
        ]
    except (ValueError, TypeError, pa.ArrowInvalid) as error:
        raise InputFileError(f"has a value that is not a number: {error}") from None
    return np.column_stack(columns)
