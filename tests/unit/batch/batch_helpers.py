"""Helpers of the batch runner's tests: a saved model's facts and writers of input files."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N_FEATURES = 4
FEATURES = [f"x{i}" for i in range(N_FEATURES)]


@dataclass
class SavedModel:
    """An estimator saved with joblib, with its digest."""

    artifact: Path
    sha256: str
    estimator: Any


def feature_rows(n_rows: int, seed: int) -> np.ndarray:
    """Reproducible feature rows."""
    return np.random.default_rng(seed).normal(size=(n_rows, N_FEATURES)).round(6)


def write_csv(path: Path, rows: np.ndarray, header: bool = True) -> Path:
    """A CSV input file, with or without a header line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=FEATURES).to_csv(path, index=False, header=header)
    return path


def write_dataset(root: Path, n_files: int, rows_per_file: int = 5) -> dict[str, np.ndarray]:
    """n_files CSV files with headers under root/data; returns their rows by relative path."""
    written = {}
    for i in range(n_files):
        name = f"data/part-{i:03d}.csv"
        rows = feature_rows(rows_per_file + i % 3, seed=i)
        write_csv(root / name, rows)
        written[name] = rows
    return written


def batch(*args: str) -> list[str]:
    """The command line of the batch runner as a process of its own."""
    return [sys.executable, "-m", "modelserve_scoring.batch", *args]
