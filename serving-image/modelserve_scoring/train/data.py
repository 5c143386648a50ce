"""Load the training rows (a CSV/Parquet file on a volume, or a bundled dataset); pick columns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from modelserve_api.training import TrainingData

from modelserve_scoring.train.errors import DataError


@dataclass(frozen=True)
class Dataset:
    """Feature columns and (except for clustering) the target, row for row."""

    features: pd.DataFrame
    target: pd.Series | None
    source: str


def load_frame(data: TrainingData, data_root: Path) -> tuple[pd.DataFrame, str]:
    """The whole table and a description of where it came from."""
    if data.dataset is not None:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{data.dataset}")(as_frame=True)
        return bunch.frame, f"scikit-learn dataset {data.dataset!r}"
    assert data.path is not None
    root = data_root.resolve()
    path = (root / data.path).resolve()
    if not path.is_relative_to(root):
        raise DataError(f"data.path {data.path!r} leaves the data volume")
    if not path.is_file():
        where = f"claim {data.claim_name!r} mounted at {root}" if data.claim_name else str(root)
        raise DataError(f"data.path: no file {data.path!r} in {where}")
    try:
        frame = pd.read_csv(path) if data.file_format == "csv" else pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as error:
        raise DataError(
            f"data.path: cannot read {data.path!r} as {data.file_format}: {error}"
        ) from None
    return frame, f"{data.file_format} file {data.path!r}"


def select_columns(frame: pd.DataFrame, data: TrainingData, task: str, source: str) -> Dataset:
    """Split the table into numeric feature columns and the target; refuse what cannot train."""
    if frame.empty:
        raise DataError(f"{source} has no rows")
    frame.columns = [str(name) for name in frame.columns]
    target_name = data.target_column
    if target_name is not None and target_name not in frame.columns:
        raise DataError(
            f"data.target: no column {target_name!r} in {source}; columns are "
            + ", ".join(frame.columns)
        )
    if data.features is not None:
        missing = [name for name in data.features if name not in frame.columns]
        if missing:
            raise DataError(f"data.features: {source} has no column(s) {', '.join(missing)}")
        if target_name in data.features:
            raise DataError(f"data.features: the target {target_name!r} cannot also be a feature")
        names = list(data.features)
    else:
        names = [name for name in frame.columns if name != target_name]
    if not names:
        raise DataError(f"{source} has no feature columns besides the target")
    not_numeric = [n for n in names if not pd.api.types.is_numeric_dtype(frame[n].dtype)]
    if not_numeric:
        raise DataError(
            "data.features: the trainer takes numeric features only; not numeric: "
            + ", ".join(f"{n} ({frame[n].dtype})" for n in not_numeric)
            + " (list the numeric ones in data.features or encode them first)"
        )
    features = frame[names].astype("float64")
    target = None
    # A clustering run ignores the target column even when one is named.
    if target_name is not None and task != "clustering":
        target = frame[target_name]
        missing_rows = int(target.isna().sum())
        if missing_rows:
            raise DataError(f"data.target: column {target_name!r} has {missing_rows} empty rows")
        if task == "regression" and not pd.api.types.is_numeric_dtype(target.dtype):
            raise DataError(
                f"data.target: a regression target must be numeric, {target_name!r} "
                f"is {target.dtype}"
            )
        if task == "classification" and _continuous(target):
            raise DataError(
                f"data.target: {target_name!r} holds continuous numbers; use task: regression "
                "or a column of class labels"
            )
        if task == "classification" and pd.api.types.is_float_dtype(target.dtype):
            # 0.0/1.0 read from a CSV are the classes 0 and 1.
            target = target.astype("int64")
    return Dataset(features=features, target=target, source=source)


def _continuous(target: pd.Series) -> bool:
    if not pd.api.types.is_float_dtype(target.dtype):
        return False
    values = target.to_numpy(dtype="float64")
    return bool(np.any(values != np.round(values)))


def load_dataset(data: TrainingData, task: str, data_root: Path) -> Dataset:
    """Read the rows the spec names and pick its columns."""
    frame, source = load_frame(data, data_root)
    return select_columns(frame, data, task, source)
