"""Does a compiled model give scikit-learn's answers? The validation rows and the tolerance.

Rows come from the training baseline (``baseline.json`` next to the artifact) where there is
one, else from what the model learnt (scaler means and scales, encoder categories, tree split
thresholds), plus edge rows: every column's extremes, rows that reach a tree's split and sit
exactly on, just above and just below its threshold (where float32 rounding flips a decision),
and rows on a linear classifier's decision boundary.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from modelserve_api.baseline import BASELINE_FILE, Baseline, BaselineError, read_baseline

from modelserve_scoring.runtime.introspect import (
    ColumnStats,
    TreeArrays,
    column_stats,
    final_estimator,
    pipeline_prefix,
    trees_of,
)

log = logging.getLogger(__name__)

#: probabilities may differ by at most this much (absolute); classes must be identical
PROBA_ATOL = 1e-5
#: regression outputs: |compiled - sklearn| <= REGRESSION_RTOL * max(|sklearn|, mean |sklearn|)
REGRESSION_RTOL = 1e-5
#: a class may differ only where scikit-learn's own two best classes are closer than this (in
#: its decision function where the model has one, else in its probabilities): the row sits on
#: the decision boundary and which class wins depends on rounding, not on the model
TIE_BAND = 1e-12
CHUNK_ROWS = 10_000
_EDGE_VALUES_PER_SPLIT = 8
_BOUNDARY_ROWS = 3_000
# rows on a linear decision boundary and at these decision values from it: float32 arithmetic
# gets the sign wrong near 1e-7, float64 only within rounding of 0
_BOUNDARY_OFFSETS = (0.0, 1e-10, -1e-10, 1e-7, -1e-7, 1e-4, -1e-4)


def load_baseline(artifact: Path) -> tuple[Baseline | None, str | None]:
    """The trainer's baseline.json beside the artifact: (baseline, None), or (None, why not)."""
    path = artifact.parent / BASELINE_FILE
    if not path.is_file():
        return None, None
    try:
        return read_baseline(path), None
    except BaselineError as exc:
        return None, f"{path} is unreadable ({exc}); using the model's own statistics"


def apply_baseline(
    stats: list[ColumnStats], baseline: Baseline, feature_names: list[str] | None
) -> int:
    """Overwrite numeric columns' figures with the baseline's; returns how many matched."""
    features = baseline.features
    if feature_names is not None:
        by_name = {f.name: f for f in features}
        matched = [(i, by_name.get(n)) for i, n in enumerate(feature_names)]
    elif len(features) == len(stats):
        matched = list(enumerate(features))
    else:
        return 0
    count = 0
    for position, feature in matched:
        if feature is None or stats[position].categories is not None or feature.mean is None:
            continue
        mean, std, low, high = feature.mean, feature.std, feature.min, feature.max
        specials = [*feature.quantiles.values(), *feature.histogram.edges, low, high]
        stats[position] = ColumnStats(
            mean,
            std if std else max(abs(mean), 1.0),
            low,
            high,
            [v for v in specials if v is not None and np.isfinite(v)],
            source=BASELINE_FILE,
        )
        count += 1
    return count


def baseline_sample_rows(
    baseline: Baseline, feature_names: list[str] | None, n_features: int
) -> np.ndarray | None:
    """The baseline's sample of real training rows, in the model's column order."""
    columns, sampled = baseline.sample.columns, baseline.sample.rows
    if not sampled:
        return None
    rows = np.array([[np.nan if v is None else v for v in row] for row in sampled], np.float64)
    if feature_names is not None:
        if not set(feature_names) <= set(columns):
            return None
        rows = rows[:, [columns.index(n) for n in feature_names]]
    if rows.ndim != 2 or rows.shape[1] != n_features:
        return None
    # rows with missing values are served by scikit-learn anyway: they test nothing here
    return rows[np.isfinite(rows).all(axis=1)]


class ValidationSample:
    """Edge rows, then seeded random rows, in chunks; numbers, or objects with categories."""

    def __init__(
        self,
        model: Any,
        n_features: int,
        feature_names: list[str] | None,
        random_rows: int,
        baseline: Baseline | None = None,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.n_features = n_features
        self.random_rows = random_rows
        self.rng = np.random.default_rng(seed)
        self.stats = column_stats(model, n_features)
        self.sources = sorted({s.source for s in self.stats})
        self.baseline_rows = None
        if baseline is not None:
            if apply_baseline(self.stats, baseline, feature_names):
                self.sources = sorted({s.source for s in self.stats})
            self.baseline_rows = baseline_sample_rows(baseline, feature_names, n_features)
        self.has_categories = any(s.categories is not None for s in self.stats)
        if self.has_categories or (self.baseline_rows is not None and not len(self.baseline_rows)):
            self.baseline_rows = None  # the trainer's sample is numbers only

    def chunks(self) -> Iterator[np.ndarray]:
        """The whole sample, CHUNK_ROWS at a time."""
        if self.baseline_rows is not None:
            yield self.baseline_rows
        edges = self.edge_rows(max(self.random_rows // 2, 1_000))
        for start in range(0, len(edges), CHUNK_ROWS):
            yield edges[start : start + CHUNK_ROWS]
        left = self.random_rows
        while left > 0:
            count = min(left, CHUNK_ROWS)
            yield self.random(count)
            left -= count

    def random(self, count: int) -> np.ndarray:
        """Random rows drawn from each column's figures (a mixture, tails included)."""
        columns = [self._column(s, count) for s in self.stats]
        if self.has_categories:
            rows = np.empty((count, self.n_features), dtype=object)
            for i, column in enumerate(columns):
                rows[:, i] = column
            return rows
        return np.column_stack(columns).astype(np.float64)

    def _column(self, stats: ColumnStats, count: int) -> np.ndarray:
        rng = self.rng
        if stats.categories is not None:
            return rng.choice(np.array(stats.categories, dtype=object), count)
        std = stats.std if stats.std > 0 else 1.0
        if stats.source == "default":
            # nothing is known: spread over several orders of magnitude
            scale = 10.0 ** rng.integers(-1, 3, count)
            return rng.normal(0.0, 1.0, count) * scale
        low = stats.low if stats.low is not None else stats.mean - 4 * std
        high = stats.high if stats.high is not None else stats.mean + 4 * std
        margin = (high - low) * 0.1
        values = rng.normal(stats.mean, std, count)
        pick = rng.random(count)
        uniform = pick < 0.3
        values[uniform] = rng.uniform(low - margin, high + margin, int(uniform.sum()))
        specials = np.array(stats.specials or [stats.mean, low, high], dtype=np.float64)
        special = pick > 0.8
        values[special] = rng.choice(specials, int(special.sum()))
        return values

    def edge_rows(self, budget: int) -> np.ndarray:
        """Column extremes, tree split edges and decision-boundary rows, at most ~budget."""
        parts = [self._column_extremes()]
        if not self.has_categories:
            parts += self._model_edges(budget)
        rows = [p for p in parts if len(p)]
        return np.concatenate(rows) if rows else self.random(1)

    def missing_rows(self, count: int) -> np.ndarray:
        """Edge and random rows with NaN cells: each column missing alone (the tree's default
        direction decides), random cells missing, and one row missing everything."""
        if self.has_categories:
            return np.empty((0, self.n_features))
        edges = self.edge_rows(count // 2)
        edges = edges[self.rng.permutation(len(edges))[: count // 2]]
        rows = np.concatenate([edges, self.random(max(count - len(edges), 1))])
        alone = np.arange(len(rows)) % 2 == 0
        rows[alone, np.arange(len(rows))[alone] % self.n_features] = np.nan
        cells = (~alone)[:, None] & (self.rng.random(rows.shape) < 0.3)
        rows[cells] = np.nan
        rows[-1] = np.nan
        # numbers beyond float32 send a whole batch to the library: they would hide the rest
        fits = np.isnan(rows) | (np.abs(rows) <= np.finfo(np.float32).max)
        return rows[fits.all(axis=1)]

    def _column_extremes(self) -> np.ndarray:
        base = self.random(1)[0]
        rows = []
        for i, stats in enumerate(self.stats):
            if stats.categories is not None:
                for category in stats.categories[:64]:
                    row = base.copy()
                    row[i] = category
                    rows.append(row)
                continue
            std = stats.std if stats.std > 0 else 1.0
            values = [0.0, stats.mean - 6 * std, stats.mean + 6 * std, -1e6 * std, 1e6 * std]
            values += [v for v in (stats.low, stats.high) if v is not None]
            for value in values:
                row = base.copy()
                row[i] = value
                rows.append(row)
        return np.array(rows, dtype=base.dtype) if rows else np.empty((0, self.n_features))

    def _model_edges(self, budget: int) -> list[np.ndarray]:
        """Edge rows in the final estimator's input space, mapped back through scalers."""
        final = final_estimator(self.model)
        prefix = pipeline_prefix(self.model)
        width = getattr(final, "n_features_in_", None)
        if width is None:
            return []
        if prefix is not None and (width != self.n_features or not _invertible(prefix)):
            return []
        base = self.random(256)
        if prefix is not None:
            base = np.asarray(prefix.transform(base), dtype=np.float64)
        found = []
        trees = trees_of(final)
        if trees:
            found.append(tree_edge_rows(trees, base, budget, self.rng))
        boundary = linear_boundary_rows(final, base, min(_BOUNDARY_ROWS, budget))
        if boundary is not None:
            found.append(boundary)
        if prefix is None:
            return found
        mapped = []
        for rows in found:
            with np.errstate(all="ignore"):
                back = np.asarray(prefix.inverse_transform(rows), dtype=np.float64)
            mapped.append(back[np.isfinite(back).all(axis=1)])
        return mapped


def _invertible(prefix: Any) -> bool:
    return all(callable(getattr(step, "inverse_transform", None)) for _, step in prefix.steps)


def _split_values(threshold: float) -> list[float]:
    """The threshold, its float64 neighbours, its float32 rounding and the float32 neighbours
    and rounding midpoints around it: the values at which precision decides the branch."""
    t = np.float64(threshold)
    with np.errstate(over="ignore"):  # beyond float32: f is infinite and its values dropped
        f = np.float32(t)
    up = np.nextafter(f, np.float32(np.inf))
    down = np.nextafter(f, np.float32(-np.inf))
    values = [
        t,
        np.nextafter(t, np.inf),
        np.nextafter(t, -np.inf),
        np.float64(f),
        np.float64(up),
        np.float64(down),
        (np.float64(f) + np.float64(up)) / 2,
        (np.float64(f) + np.float64(down)) / 2,
    ]
    return [float(v) for v in values if np.isfinite(v)]


def _inside(base: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The base row, moved into the box low < x <= high where it lies outside."""
    row = base.copy()
    outside = (row <= low) | (row > high)
    if not outside.any():
        return row
    lo, hi = low[outside], high[outside]
    both = np.isfinite(lo) & np.isfinite(hi)
    only_lo = np.isfinite(lo) & ~np.isfinite(hi)
    only_hi = ~np.isfinite(lo) & np.isfinite(hi)
    values = row[outside]
    values[both] = (lo[both] + hi[both]) / 2
    values[only_lo] = lo[only_lo] + np.maximum(np.abs(lo[only_lo]), 1.0) * 0.5
    values[only_hi] = hi[only_hi] - np.maximum(np.abs(hi[only_hi]), 1.0) * 0.5
    row[outside] = values
    return row


def tree_edge_rows(
    trees: list[TreeArrays], base: np.ndarray, budget: int, rng: np.random.Generator
) -> np.ndarray:
    """Rows that reach a split (every condition above it holds) with the split's feature set
    to each precision-critical value around its threshold; splits are sampled to fit budget."""
    width = base.shape[1]
    splits = sum(int((t.feature >= 0).sum()) for t in trees)
    if not splits:
        return np.empty((0, width))
    keep = min(1.0, budget / (splits * _EDGE_VALUES_PER_SPLIT))
    rows: list[np.ndarray] = []
    for index, tree in enumerate(trees):
        start = base[index % len(base)]
        stack = [(0, np.full(width, -np.inf), np.full(width, np.inf))]
        while stack:
            node, low, high = stack.pop()
            feature = int(tree.feature[node])
            if feature < 0 or feature >= width:
                continue
            threshold = float(tree.threshold[node])
            if rng.random() < keep:
                row = _inside(start, low, high)
                for value in _split_values(threshold):
                    edge = row.copy()
                    edge[feature] = value
                    rows.append(edge)
            # left: x <= threshold; right: x > threshold
            left_high = high.copy()
            left_high[feature] = min(high[feature], threshold)
            right_low = low.copy()
            right_low[feature] = max(low[feature], threshold)
            stack.append((int(tree.left[node]), low, left_high))
            stack.append((int(tree.right[node]), right_low, high))
    return np.array(rows) if rows else np.empty((0, width))


def linear_boundary_rows(final: Any, base: np.ndarray, count: int) -> np.ndarray | None:
    """Rows projected onto a linear classifier's decision boundary (classes 0 and 1)."""
    coef = getattr(final, "coef_", None)
    intercept = getattr(final, "intercept_", None)
    if coef is None or getattr(final, "classes_", None) is None or intercept is None:
        return None
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
    if coef.shape[1] != base.shape[1]:
        return None
    if coef.shape[0] == 1:
        w, b = coef[0], intercept[0]
    else:
        w, b = coef[0] - coef[1], intercept[0] - intercept[1]
    norm = float(w @ w)
    if norm == 0 or not np.isfinite(norm):
        return None
    picks = base[np.arange(max(count // len(_BOUNDARY_OFFSETS), 1)) % len(base)]
    on = picks - np.outer((picks @ w + b) / norm, w)
    return np.concatenate([on + offset * w / norm for offset in _BOUNDARY_OFFSETS])


def tie_margin(decision: np.ndarray | None, proba: np.ndarray | None) -> np.ndarray | None:
    """Per row, how far apart scikit-learn's two best classes are (see TIE_BAND).

    An exact tie in probabilities (a forest's votes split evenly) is no rounding accident:
    scikit-learn gives the first class, and a compiled model must too, so it gets no margin.
    """
    scores = decision if decision is not None else proba
    if scores is None:
        return None
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        return np.abs(scores)  # a binary decision function: distance from its threshold 0
    if scores.shape[1] < 2:
        return None
    top = np.sort(scores, axis=1)
    margin = top[:, -1] - top[:, -2]
    if decision is None:
        margin[margin == 0] = np.inf
    return margin


@dataclass
class Agreement:
    """How a compiled model's answers compare with scikit-learn's over the sample so far."""

    rows: int = 0
    label_mismatches: int = 0
    near_ties: int = 0
    max_proba_diff: float = 0.0
    max_value_diff: float = 0.0
    first_problem: str | None = None

    @property
    def exact(self) -> bool:
        """Identical classes and outputs within the documented tolerance."""
        return (
            self.label_mismatches == 0
            and self.max_proba_diff <= PROBA_ATOL
            and self.max_value_diff <= REGRESSION_RTOL
        )

    def problem(self) -> str:
        """Why it is not exact, in a sentence."""
        parts = []
        if self.label_mismatches:
            parts.append(
                f"classes differ on {self.label_mismatches} of {self.rows} validation rows"
            )
        if self.max_proba_diff > PROBA_ATOL:
            parts.append(
                f"probabilities differ by up to {self.max_proba_diff:.3g} "
                f"(tolerance {PROBA_ATOL:g})"
            )
        if self.max_value_diff > REGRESSION_RTOL:
            parts.append(
                f"predictions differ by up to {self.max_value_diff:.3g} relative "
                f"(tolerance {REGRESSION_RTOL:g})"
            )
        text = "; ".join(parts) or "answers agree"
        return f"{text} (first: {self.first_problem})" if self.first_problem else text

    def to_json(self) -> dict[str, Any]:
        """Figures for the model metadata."""
        return {
            "rows": self.rows,
            "label_mismatches": self.label_mismatches,
            "near_ties_accepted": self.near_ties,
            "max_proba_diff": self.max_proba_diff,
            "max_relative_prediction_diff": self.max_value_diff,
        }

    def add(
        self,
        reference: tuple[np.ndarray, np.ndarray | None],
        candidate: tuple[np.ndarray, np.ndarray | None],
        classifier: bool,
        offset: int = 0,
        margin: np.ndarray | None = None,
    ) -> None:
        """Compare one chunk's answers; offset numbers its rows in messages; margin is
        scikit-learn's own gap between its two best classes per row (tie_margin)."""
        ref_pred, ref_proba = reference
        got_pred, got_proba = candidate
        self.rows += len(ref_pred)
        if classifier:
            self._labels(ref_pred, got_pred, margin, offset)
        else:
            self._values(ref_pred, got_pred, offset)
        if ref_proba is not None and got_proba is not None:
            diff = _abs_diff(ref_proba, got_proba)
            self.max_proba_diff = max(self.max_proba_diff, float(diff.max(initial=0.0)))
            if self.first_problem is None and self.max_proba_diff > PROBA_ATOL:
                row = int(np.unravel_index(int(np.argmax(diff)), diff.shape)[0])
                self.first_problem = (
                    f"row {offset + row}: probabilities {ref_proba[row].tolist()} from "
                    f"scikit-learn, {got_proba[row].tolist()} compiled"
                )

    def _labels(
        self, ref: np.ndarray, got: np.ndarray, margin: np.ndarray | None, offset: int
    ) -> None:
        differ = np.asarray(ref != got)
        if differ.ndim > 1:
            differ = differ.any(axis=tuple(range(1, differ.ndim)))
        if not differ.any():
            return
        rows = np.flatnonzero(differ)
        if margin is not None:
            tie = margin[rows] <= TIE_BAND
            self.near_ties += int(tie.sum())
            rows = rows[~tie]
        self.label_mismatches += len(rows)
        if len(rows) and self.first_problem is None:
            row = int(rows[0])
            self.first_problem = (
                f"row {offset + row}: class {_plain(ref[row])!r} from scikit-learn, "
                f"{_plain(got[row])!r} compiled"
            )

    def _values(self, ref: np.ndarray, got: np.ndarray, offset: int) -> None:
        ref = np.asarray(ref, dtype=np.float64)
        got = np.asarray(got, dtype=np.float64).reshape(ref.shape)
        scale = float(np.nanmean(np.abs(ref))) if np.isfinite(ref).any() else 1.0
        diff = _abs_diff(ref, got) / np.maximum(np.abs(ref), max(scale, 1e-300))
        worst = float(diff.max(initial=0.0))
        self.max_value_diff = max(self.max_value_diff, worst)
        if self.first_problem is None and worst > REGRESSION_RTOL:
            row = int(np.unravel_index(int(np.argmax(diff)), diff.shape)[0])
            self.first_problem = (
                f"row {offset + row}: {ref[row].tolist()} from scikit-learn, "
                f"{got[row].tolist()} compiled"
            )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _abs_diff(ref: np.ndarray, got: np.ndarray) -> np.ndarray:
    """|got - ref|, 0 where both are NaN, infinite where only one is."""
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64).reshape(ref.shape)
    with np.errstate(invalid="ignore"):
        diff = np.abs(got - ref)
    both_nan = np.isnan(ref) & np.isnan(got)
    same_inf = np.isinf(ref) & (ref == got)
    diff[both_nan | same_inf] = 0.0
    diff[np.isnan(diff)] = np.inf
    return diff
