"""Compute baseline.json (the contract: modelserve_api.baseline) from the training part.

The histogram's edges are cut points of the training data (deciles, or midpoints between
the values of a feature with few distinct values), so each bin holds a similar share of
the training rows, which is what PSI wants. Values are binned by the contract's rule. A
seeded sample of whole rows serves two-sample KS tests and checks of compiled models.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from modelserve_api.baseline import (
    Baseline,
    ClassCounts,
    FeatureStatistics,
    Histogram,
    RowSample,
)

DEFAULT_BINS = 10
DEFAULT_SAMPLE_ROWS = 200
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


def _number(value: float) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    value = float(value)
    return value if math.isfinite(value) else None


def histogram_edges(values: np.ndarray, bins: int = DEFAULT_BINS) -> list[float]:
    """Edges from the data: one bin per distinct value when there are few, else quantiles."""
    distinct = np.unique(values)
    if len(distinct) == 0:
        return []
    if len(distinct) <= bins:
        midpoints = (distinct[:-1] + distinct[1:]) / 2
        return [float(distinct[0]), *map(float, midpoints), float(distinct[-1])]
    inner = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    # A cut point at the minimum or maximum (a heavy tail of equal values) would make a
    # bin of zero width.
    inner = inner[(inner > distinct[0]) & (inner < distinct[-1])]
    return [float(distinct[0]), *map(float, inner), float(distinct[-1])]


def bin_counts(values: np.ndarray, edges: list[float]) -> list[int]:
    """How many values fall in each bin (the contract's rule, vectorised)."""
    if len(edges) < 2:
        return []
    positions = np.searchsorted(np.asarray(edges[1:-1]), values, side="right")
    return np.bincount(positions, minlength=len(edges) - 1).astype(int).tolist()


def feature_statistics(name: str, column: pd.Series, bins: int = DEFAULT_BINS) -> FeatureStatistics:
    """Statistics of one numeric column."""
    values = column.to_numpy(dtype="float64")
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return FeatureStatistics(name=name, count=0, missing=len(values))
    edges = histogram_edges(present, bins)
    quantiles = np.quantile(present, QUANTILES)
    return FeatureStatistics(
        name=name,
        count=len(present),
        missing=len(values) - len(present),
        mean=_number(present.mean()),
        std=_number(present.std(ddof=1)) if len(present) > 1 else None,
        min=_number(present.min()),
        max=_number(present.max()),
        quantiles={
            f"p{round(q * 100)}": _number(v) for q, v in zip(QUANTILES, quantiles, strict=True)
        },
        histogram=Histogram(edges=edges, counts=bin_counts(present, edges)),
    )


def _target_summary(task: str, target: pd.Series | None) -> ClassCounts | FeatureStatistics | None:
    if target is None:
        return None
    if task == "classification":
        counts = target.astype(str).value_counts().sort_index()
        return ClassCounts(
            name=str(target.name), class_counts={k: int(v) for k, v in counts.items()}
        )
    return feature_statistics(str(target.name), target)


def row_sample(features: pd.DataFrame, size: int, seed: int) -> RowSample:
    """A seeded uniform sample of whole rows, kept in their original order."""
    rng = np.random.default_rng(seed)
    count = min(size, len(features))
    chosen = np.sort(rng.choice(len(features), size=count, replace=False))
    rows = features.to_numpy(dtype="float64")[chosen]
    return RowSample(
        columns=[str(c) for c in features.columns],
        rows=[[_number(v) for v in row] for row in rows],
    )


def build_baseline(
    task: str,
    features: pd.DataFrame,
    target: pd.Series | None,
    seed: int,
    bins: int = DEFAULT_BINS,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
) -> dict[str, Any]:
    """The baseline.json document of the training part."""
    return Baseline(
        rows=len(features),
        features=[feature_statistics(str(n), features[n], bins) for n in features.columns],
        sample=row_sample(features, sample_rows, seed),
        target=_target_summary(task, target),
    ).to_json()
