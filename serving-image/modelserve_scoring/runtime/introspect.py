"""What a fitted estimator tells about its inputs: categories, value ranges, tree splits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_ENCODERS = ("OneHotEncoder", "OrdinalEncoder")


@dataclass
class ColumnStats:
    """How one input column's values are spread, as far as anything tells."""

    mean: float = 0.0
    std: float = 1.0
    low: float | None = None
    high: float | None = None
    #: values worth hitting exactly: split thresholds, quantiles, histogram edges
    specials: list[float] = field(default_factory=list)
    #: the known categories of a string column (None for a numeric column)
    categories: list[str] | None = None
    #: where these figures come from ("default" when nothing told us)
    source: str = "default"


@dataclass(frozen=True)
class TreeArrays:
    """One decision tree's structure; leaves have feature < 0.

    ``float32_inputs``: scikit-learn's own trees compare float32(x) <= threshold;
    histogram gradient boosting compares the float64 value itself.
    """

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    float32_inputs: bool


def final_estimator(model: Any) -> Any:
    """The last step of a (nested) Pipeline, or the model itself."""
    while type(model).__name__ == "Pipeline":
        model = model.steps[-1][1]
    return model


def pipeline_prefix(model: Any) -> Any | None:
    """The steps before the final estimator (a Pipeline), or None for a bare estimator."""
    if type(model).__name__ != "Pipeline" or len(model.steps) < 2:
        return None
    return model[:-1]


def _encoder_categories(transformer: Any) -> list[list[str]] | None:
    """String categories per column of a (pipeline-wrapped) encoder, else None."""
    while type(transformer).__name__ == "Pipeline":
        encoders = [s for _, s in transformer.steps if type(s).__name__ in _ENCODERS]
        if not encoders:
            return None
        transformer = encoders[0]
    if type(transformer).__name__ not in _ENCODERS:
        return None
    categories = getattr(transformer, "categories_", None)
    if categories is None or not all(c.dtype.kind in "OUS" for c in categories):
        return None
    return [[str(v) for v in c if isinstance(v, str)] for c in categories]


def _transformer_columns(transformer_block: Any) -> Iterator[tuple[Any, list[int]]]:
    """(transformer, input column positions) of a fitted ColumnTransformer."""
    positions = getattr(transformer_block, "_transformer_to_input_indices", {})
    for name, transformer, _ in transformer_block.transformers_:
        if transformer in ("drop", "passthrough") and name != "remainder":
            continue
        yield transformer, [int(i) for i in positions.get(name, [])]


def _first_step(model: Any) -> Any:
    while type(model).__name__ == "Pipeline":
        model = model.steps[0][1]
    return model


def categorical_columns(model: Any, n_features: int) -> dict[int, list[str]]:
    """Column position -> known string categories, for columns an encoder reads as strings."""
    first = _first_step(model)
    found: dict[int, list[str]] = {}
    if type(first).__name__ == "ColumnTransformer":
        for transformer, columns in _transformer_columns(first):
            categories = _encoder_categories(transformer)
            if categories is not None and len(categories) == len(columns):
                found.update(zip(columns, categories, strict=True))
        return found
    categories = _encoder_categories(first)
    if categories is not None and len(categories) == n_features:
        found.update(enumerate(categories))
    return found


def has_column_transformer(model: Any) -> bool:
    """Whether the model starts by selecting columns (possibly by name)."""
    return type(_first_step(model)).__name__ == "ColumnTransformer"


def _scaler_stats(step: Any, width: int) -> list[ColumnStats] | None:
    """Per-column figures a fitted scaler or imputer learnt about its inputs."""
    kind = type(step).__name__
    if kind == "StandardScaler" and getattr(step, "mean_", None) is not None:
        scale = step.scale_ if step.scale_ is not None else np.ones(width)
        return [ColumnStats(float(m), float(s), source="StandardScaler") for m, s in
                zip(step.mean_, scale, strict=True)]  # fmt: skip
    if kind == "MinMaxScaler":
        return [
            ColumnStats((lo + hi) / 2, (hi - lo) / 4 or 1.0, lo, hi, source="MinMaxScaler")
            for lo, hi in zip(map(float, step.data_min_), map(float, step.data_max_), strict=True)
        ]
    if kind == "RobustScaler" and getattr(step, "center_", None) is not None:
        scale = step.scale_ if step.scale_ is not None else np.ones(width)
        return [ColumnStats(float(c), float(s), source="RobustScaler") for c, s in
                zip(step.center_, scale, strict=True)]  # fmt: skip
    if kind == "SimpleImputer" and getattr(step, "statistics_", None) is not None:
        values = step.statistics_
        if values.dtype.kind in "fiu":
            return [ColumnStats(float(v), max(abs(float(v)), 1.0), source="SimpleImputer")
                    for v in values]  # fmt: skip
    return None


def _block_stats(block: Any, width: int) -> list[ColumnStats] | None:
    if type(block).__name__ == "Pipeline":
        for _, step in block.steps:
            stats = _scaler_stats(step, width)
            if stats is not None:
                return stats
        return None
    return _scaler_stats(block, width)


def trees_of(model: Any) -> list[TreeArrays]:
    """The decision trees of a tree model (forest, boosting, single tree, XGBoost or LightGBM
    booster), else []."""
    if callable(getattr(model, "get_booster", None)):
        return _xgboost_trees(model.get_booster())
    booster = getattr(model, "booster_", None)
    if booster is not None and callable(getattr(booster, "dump_model", None)):
        return _lightgbm_trees(booster.dump_model())
    if getattr(model, "tree_", None) is not None:
        return [_sklearn_tree(model.tree_)]
    predictors = getattr(model, "_predictors", None)
    if predictors is not None:  # histogram gradient boosting
        return [_hist_tree(p) for stage in predictors for p in stage]
    estimators = getattr(model, "estimators_", None)
    if estimators is None:
        return []
    flat = np.ravel(np.asarray(estimators, dtype=object))
    return [_sklearn_tree(e.tree_) for e in flat if getattr(e, "tree_", None) is not None]


def _sklearn_tree(tree: Any) -> TreeArrays:
    return TreeArrays(tree.children_left, tree.children_right, tree.feature, tree.threshold, True)


def _hist_tree(predictor: Any) -> TreeArrays:
    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(bool)
    feature = np.where(leaf, -1, nodes["feature_idx"].astype(np.int64))
    return TreeArrays(
        nodes["left"].astype(np.int64),
        nodes["right"].astype(np.int64),
        feature,
        nodes["num_threshold"].astype(np.float64),
        False,
    )


def _xgboost_trees(booster: Any) -> list[TreeArrays]:
    """XGBoost's trees from its JSON model: it compares float32(x) < float32 threshold."""
    import json

    learner = json.loads(bytes(booster.save_raw("json")))["learner"]
    model = learner["gradient_booster"]
    model = model.get("gbtree", model)["model"]  # dart nests its gbtree
    trees = []
    for tree in model["trees"]:
        left = np.asarray(tree["left_children"], dtype=np.int64)
        feature = np.where(left < 0, -1, np.asarray(tree["split_indices"], dtype=np.int64))
        # categorical splits test set membership, not a threshold: no edge rows below them
        categorical = np.asarray(tree.get("split_type") or np.zeros(len(left)), dtype=np.int64)
        feature = np.where(categorical != 0, -1, feature)
        threshold = np.asarray(tree["split_conditions"], dtype=np.float32).astype(np.float64)
        right = np.asarray(tree["right_children"], dtype=np.int64)
        trees.append(TreeArrays(left, right, feature, threshold, True))
    return trees


def _lightgbm_trees(dump: dict[str, Any]) -> list[TreeArrays]:
    """LightGBM's trees from its dump_model(): it compares the float64 x <= double threshold."""
    return [_lightgbm_tree(info["tree_structure"]) for info in dump.get("tree_info", [])]


def _lightgbm_tree(root: dict[str, Any]) -> TreeArrays:
    """One nested LightGBM tree as arrays (categorical splits count as leaves here)."""
    nodes = [root]
    left, right, feature, threshold = [-1], [-1], [-1], [0.0]
    for index, node in enumerate(nodes):  # grows while it is walked: breadth first
        if "split_feature" not in node:
            continue
        if node.get("decision_type") == "<=":
            feature[index] = int(node["split_feature"])
            threshold[index] = float(node["threshold"])
        for side, child in ((left, node["left_child"]), (right, node["right_child"])):
            side[index] = len(nodes)
            nodes.append(child)
            left.append(-1), right.append(-1), feature.append(-1), threshold.append(0.0)
    return TreeArrays(
        np.asarray(left, dtype=np.int64),
        np.asarray(right, dtype=np.int64),
        np.asarray(feature, dtype=np.int64),
        np.asarray(threshold, dtype=np.float64),
        False,
    )


def _tree_stats(trees: list[TreeArrays], width: int) -> list[ColumnStats] | None:
    if not trees:
        return None
    per_feature: list[list[np.ndarray]] = [[] for _ in range(width)]
    for tree in trees:
        split = tree.feature >= 0
        for f in np.unique(tree.feature[split]):
            if 0 <= f < width:
                per_feature[f].append(tree.threshold[split & (tree.feature == f)])
    stats = []
    for chunks in per_feature:
        if not chunks:
            stats.append(ColumnStats())
            continue
        values = np.unique(np.concatenate(chunks))
        # LightGBM writes +-1e300 where a split only separates missing values: no spread
        values = values[np.abs(values) <= np.finfo(np.float32).max]
        if not len(values):
            stats.append(ColumnStats())
            continue
        lo, hi = float(values[0]), float(values[-1])
        spread = (hi - lo) or max(abs(lo), 1.0)
        # a sample of the thresholds: hitting them exactly is where precision matters
        picks = values[np.linspace(0, len(values) - 1, min(len(values), 64)).astype(int)]
        stats.append(
            ColumnStats(
                (lo + hi) / 2,
                spread / 2,
                lo - spread / 4,
                hi + spread / 4,
                [float(v) for v in picks],
                source="split thresholds",
            )
        )
    return stats


def column_stats(model: Any, n_features: int) -> list[ColumnStats]:
    """Best guess of each input column's spread, from the model's own fitted statistics."""
    stats = [ColumnStats() for _ in range(n_features)]
    for position, categories in categorical_columns(model, n_features).items():
        stats[position] = ColumnStats(categories=categories, source="encoder categories")
    first = _first_step(model)
    if type(first).__name__ == "ColumnTransformer":
        for transformer, columns in _transformer_columns(first):
            block = _block_stats(transformer, len(columns))
            if block is not None and len(block) == len(columns):
                for position, column in zip(columns, block, strict=True):
                    if stats[position].categories is None:
                        stats[position] = column
        return stats
    if type(model).__name__ == "Pipeline":
        block = _block_stats(model, n_features)
    else:
        block = _tree_stats(trees_of(model), n_features)
    if block is not None and len(block) == n_features:
        stats = [s if s.categories is not None else b for s, b in zip(stats, block, strict=True)]
    return stats
