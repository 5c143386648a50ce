"""The seeded train/validation/test split, done the way docs/training.md tells users to redo it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from modelserve_api.training import TrainingSplit

from modelserve_scoring.train.errors import DataError


@dataclass(frozen=True)
class SplitIndices:
    """Row positions of each part; validation may be empty."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        """How many rows each part holds."""
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }


def split_rows(n_rows: int, labels: pd.Series | None, split: TrainingSplit) -> SplitIndices:
    """Split row positions 0..n-1 in two seeded steps.

    First ``train_test_split(positions, test_size=split.test, random_state=seed,
    stratify=labels)`` holds out the test part; then, when ``split.validation > 0``, the
    rest is split again with ``test_size=validation / (train + validation)`` and the same
    seed, stratified by the rest's labels. Pass class labels (classification only) to stratify;
    ``split.stratify: false`` turns it off.
    """
    from sklearn.model_selection import train_test_split

    positions = np.arange(n_rows)
    stratify = labels.to_numpy() if labels is not None and split.stratify else None
    try:
        rest, test = train_test_split(
            positions, test_size=split.test, random_state=split.seed, stratify=stratify
        )
        validation = np.array([], dtype=positions.dtype)
        train = rest
        if split.validation > 0:
            train, validation = train_test_split(
                rest,
                test_size=split.validation / (split.train + split.validation),
                random_state=split.seed,
                stratify=None if stratify is None else stratify[rest],
            )
    except ValueError as error:
        hint = " (or set split.stratify: false)" if stratify is not None else ""
        raise DataError(
            f"split: cannot split {n_rows} rows into train {split.train:g}, validation "
            f"{split.validation:g}, test {split.test:g}: {error}{hint}"
        ) from None
    return SplitIndices(train=np.asarray(train), validation=np.asarray(validation), test=test)
