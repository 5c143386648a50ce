"""baseline.json: per-feature statistics of a model's training part, for drift checks in production.

The trainer writes it next to the artifact; the scoring server reads it to bin live values
(monitoring) and to pick validation rows (ONNX exactness). Each feature has count, missing,
mean, std, min, max, quantiles and a histogram whose edges are cut points of the training
data. A value v falls in bin i where i is the number of inner edges (edges[1:-1]) that are
<= v; values below the first edge count in the first bin and values above the last edge in
the last. A seeded sample of whole training rows serves two-sample KS tests.

PSI over those bins is computed here, once, for the scoring server's metrics and the
operator's verdicts alike.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from .common import ApiModel, field_path

BASELINE_FILE = "baseline.json"
BASELINE_FORMAT = 1
# A bin's share is floored at this so an empty bin does not make PSI infinite.
PSI_EPSILON = 1e-4


class BaselineError(ValueError):
    """baseline.json is unreadable or not a baseline."""


class Histogram(ApiModel):
    """Counts of training values per bin; edges are the cut points (one more than counts)."""

    edges: list[float] = Field(default_factory=list)
    counts: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_count_per_bin(self) -> Histogram:
        if self.edges and (len(self.edges) < 2 or len(self.counts) != len(self.edges) - 1):
            raise ValueError(
                f"{len(self.edges)} edges and {len(self.counts)} counts; "
                "it needs one count per bin between edges"
            )
        if any(b < a for a, b in itertools.pairwise(self.edges)):
            raise ValueError("edges must be sorted")
        return self


class FeatureStatistics(ApiModel):
    """Statistics of one numeric column of the training part."""

    name: str
    count: int = 0
    missing: int = 0
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    # "p1" ... "p99"; null where the value was not finite
    quantiles: dict[str, float | None] = Field(default_factory=dict)
    histogram: Histogram = Field(default_factory=Histogram)


class ClassCounts(ApiModel):
    """The target of a classifier: rows per class label."""

    name: str
    class_counts: dict[str, int]


class RowSample(ApiModel):
    """A seeded sample of whole training rows, in their original order; null for NaN."""

    columns: list[str] = Field(default_factory=list)
    rows: list[list[float | None]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rows_as_wide_as_columns(self) -> RowSample:
        if any(len(row) != len(self.columns) for row in self.rows):
            raise ValueError("sample.rows must be lists as long as sample.columns")
        return self

    def column(self, name: str) -> list[float]:
        """The finite sampled values of one column ([] when it is not sampled)."""
        if name not in self.columns:
            return []
        index = self.columns.index(name)
        values = (row[index] for row in self.rows)
        return [v for v in values if v is not None and math.isfinite(v)]


class Baseline(ApiModel):
    """The whole baseline.json document."""

    format: int = BASELINE_FORMAT
    rows: int = 0
    features: list[FeatureStatistics]
    sample: RowSample = Field(default_factory=RowSample)
    target: ClassCounts | FeatureStatistics | None = None

    def to_json(self) -> dict[str, Any]:
        """The document as written: camelCase, null where a figure is not finite."""
        document = self.model_dump(by_alias=True, mode="json")
        if self.target is None:
            del document["target"]
        return document


def read_baseline(path: Path) -> Baseline:
    """Read and check a baseline.json; BaselineError says what is wrong and where."""
    try:
        document = json.loads(path.read_bytes())
    except OSError as error:
        raise BaselineError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise BaselineError(f"{path} is not valid JSON: {error}") from None
    try:
        return Baseline.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = field_path(first["loc"]) or "the document"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise BaselineError(f"{path}: {where}: {message}") from None


def bin_index(value: float, edges: Sequence[float]) -> int:
    """The bin of ``value`` (see the module docstring for the rule)."""
    return bisect.bisect_right(edges[1:-1], value)


def histogram(values: Iterable[float | None], edges: Sequence[float]) -> list[int]:
    """Counts of ``values`` per bin of ``edges``; NaN and None are left out."""
    if len(edges) < 2:
        raise ValueError("a histogram needs at least two edges")
    counts = [0] * (len(edges) - 1)
    for value in values:
        if value is not None and not math.isnan(value):
            counts[bin_index(value, edges)] += 1
    return counts


def population_stability_index(
    expected: Sequence[float], actual: Sequence[float], epsilon: float = PSI_EPSILON
) -> float | None:
    """PSI = sum((a - e) * ln(a / e)) over bins of shares; None when either side is empty."""
    if len(expected) != len(actual):
        raise ValueError(f"histograms differ in bins: {len(expected)} vs {len(actual)}")
    expected_total, actual_total = sum(expected), sum(actual)
    if expected_total <= 0 or actual_total <= 0:
        return None
    psi = 0.0
    for e_count, a_count in zip(expected, actual, strict=True):
        e = max(e_count / expected_total, epsilon)
        a = max(a_count / actual_total, epsilon)
        psi += (a - e) * math.log(a / e)
    return psi
