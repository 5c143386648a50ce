"""Helpers of the trainer's tests: the split recipe docs/training.md gives, spec files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split


def documented_split(
    n_rows: int, labels: Any, fractions: tuple[float, float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The split as docs/training.md tells users to redo it with scikit-learn alone."""
    train, validation, test = fractions
    positions = np.arange(n_rows)
    rest, test_rows = train_test_split(
        positions, test_size=test, random_state=seed, stratify=labels
    )
    train_rows, validation_rows = train_test_split(
        rest,
        test_size=validation / (train + validation),
        random_state=seed,
        stratify=None if labels is None else np.asarray(labels)[rest],
    )
    return train_rows, validation_rows, test_rows


def write_spec(directory: Path, spec: dict[str, Any]) -> Path:
    """The spec as a JSON file, as `--spec` reads it."""
    path = directory / "spec.json"
    path.write_text(json.dumps(spec))
    return path
