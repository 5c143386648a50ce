"""LightGBM trees as an ONNX graph that decides every split as LightGBM does.

LightGBM compares the float64 feature with a float64 threshold (``x <= t``) and sums leaf
values in float64. onnxmltools' converter stores float32 thresholds (ONNX-ML opset 3
attributes), so rows near a split go the other way and the exactness check refuses the graph.
This converter writes one ai.onnx.ml opset 5 ``TreeEnsemble`` whose input, thresholds, leaf
weights and sums are all float64, and reproduces LightGBM's ``NumericalDecision``:

- the C API turns every |x| <= kZeroThreshold (1e-35f) into 0 before the trees see it;
- a NaN on a split whose missing type is not ``NaN`` is read as 0;
- missing type ``NaN``: a NaN takes the learnt default branch;
- missing type ``Zero``: a 0 (or a NaN, read as 0) takes the default branch.

The output transform (sigmoid, softmax, exp) runs in float64 ONNX operators after the sum.
Categorical splits and linear trees are refused (the caller falls back to LightGBM itself).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: LightGBM's kZeroThreshold: a float literal (1e-35f) held in a double
ZERO_THRESHOLD = float(np.float32(1e-35))
#: ai.onnx.ml opset of the TreeEnsemble operator (float64 input, thresholds and output)
ML_OPSET = 5
_BRANCH_LEQ = 0
_IDENTITY = frozenset(
    {"regression", "regression_l1", "huber", "fair", "quantile", "mape", "custom"}
)
_EXP = frozenset({"poisson", "gamma", "tweedie"})


class Ensemble:
    """The flattened trees of one LightGBM dump, in TreeEnsemble (opset 5) terms."""

    def __init__(self, dump: dict[str, Any], thresholds: dict[int, list[float]]) -> None:
        self.n_targets = int(dump.get("num_tree_per_iteration", 1))
        self.average = bool(dump.get("average_output", False))
        self.objective = str(dump.get("objective", "regression")).split()
        self.roots: list[int] = []
        self.features: list[int] = []
        self.splits: list[float] = []
        self.tracks_true: list[int] = []
        self.true_ids: list[int] = []
        self.true_leaf: list[int] = []
        self.false_ids: list[int] = []
        self.false_leaf: list[int] = []
        self.leaf_targets: list[int] = []
        self.leaf_weights: list[float] = []
        #: features a "Zero" split routes by default where x <= t would not: 0 becomes NaN
        self.zero_as_nan: set[int] = set()
        self._missing_types: dict[int, set[str]] = {}
        self.near_zero_threshold = False
        trees = dump.get("tree_info", [])
        if not trees:
            raise ValueError("the LightGBM model has no trees")
        self._thresholds = thresholds
        for index, tree in enumerate(trees):
            self._tree = int(tree.get("tree_index", index))
            self._add_tree(tree["tree_structure"], index % self.n_targets)
        self.iterations = len(trees) // self.n_targets
        for feature in self.zero_as_nan:
            if self._missing_types[feature] != {"Zero"}:
                raise ValueError(
                    f"feature {feature} mixes zero-as-missing splits with other missing types"
                )

    def _leaf(self, node: dict[str, Any], target: int) -> int:
        if "leaf_coeff" in node:
            raise ValueError("linear trees (linear_tree=true) are not converted")
        self.leaf_targets.append(target)
        self.leaf_weights.append(float(node["leaf_value"]))
        return len(self.leaf_weights) - 1

    def _add_tree(self, root: dict[str, Any], target: int) -> None:
        if "split_feature" not in root:
            # a one-leaf tree: a split whose branches both reach the leaf
            leaf = self._leaf(root, target)
            self.roots.append(len(self.features))
            self._node(0, 0.0, 0, (leaf, 1), (leaf, 1))
            return
        self.roots.append(len(self.features))
        self._split(root, target)

    def _node(
        self, feature: int, split: float, tracks: int, true: tuple[int, int],
        false: tuple[int, int],
    ) -> int:  # fmt: skip
        self.features.append(feature)
        self.splits.append(split)
        self.tracks_true.append(tracks)
        self.true_ids.append(true[0])
        self.true_leaf.append(true[1])
        self.false_ids.append(false[0])
        self.false_leaf.append(false[1])
        return len(self.features) - 1

    def _child(self, node: dict[str, Any], target: int) -> tuple[int, int]:
        if "split_feature" not in node:
            return self._leaf(node, target), 1
        return self._split(node, target), 0

    def _split(self, node: dict[str, Any], target: int) -> int:
        if node.get("decision_type") != "<=":
            raise ValueError("categorical splits are not converted")
        feature = int(node["split_feature"])
        # the dump writes an infinite threshold as +-1e300; the text model keeps it exact
        threshold = self._thresholds[self._tree][int(node["split_index"])]
        missing = str(node.get("missing_type", "None"))
        default_left = bool(node.get("default_left", False))
        self._missing_types.setdefault(feature, set()).add(missing)
        if abs(threshold) <= ZERO_THRESHOLD:
            self.near_zero_threshold = True
        if missing == "NaN":
            tracks = int(default_left)
        elif missing == "Zero":
            # NaN is read as 0 and 0 takes the default branch; where x <= t would send 0 the
            # other way, the graph turns this feature's zeros into NaN first
            tracks = int(default_left)
            if (threshold >= 0.0) != default_left:
                self.zero_as_nan.add(feature)
        else:  # "None": NaN is read as 0, and 0 <= t decides
            tracks = int(threshold >= 0.0)
        index = self._node(feature, threshold, tracks, (0, 0), (0, 0))
        true = self._child(node["left_child"], target)
        false = self._child(node["right_child"], target)
        self.true_ids[index], self.true_leaf[index] = true
        self.false_ids[index], self.false_leaf[index] = false
        return index

    def attributes(self) -> dict[str, Any]:
        """The TreeEnsemble node's attributes."""
        from onnx import numpy_helper

        return {
            "aggregate_function": 1,  # SUM
            "n_targets": self.n_targets,
            "tree_roots": self.roots,
            "nodes_featureids": self.features,
            "nodes_splits": numpy_helper.from_array(np.asarray(self.splits, np.float64)),
            "nodes_modes": numpy_helper.from_array(
                np.full(len(self.features), _BRANCH_LEQ, np.uint8)
            ),
            "nodes_missing_value_tracks_true": self.tracks_true,
            "nodes_truenodeids": self.true_ids,
            "nodes_trueleafs": self.true_leaf,
            "nodes_falsenodeids": self.false_ids,
            "nodes_falseleafs": self.false_leaf,
            "leaf_targetids": self.leaf_targets,
            "leaf_weights": numpy_helper.from_array(np.asarray(self.leaf_weights, np.float64)),
            "post_transform": 0,
        }


def text_thresholds(model_text: str) -> dict[int, list[float]]:
    """Every tree's split thresholds as the text model writes them (%.17g, inf kept)."""
    found: dict[int, list[float]] = {}
    tree = None
    for line in model_text.splitlines():
        if line.startswith("Tree="):
            tree = int(line[5:])
        elif line.startswith("threshold=") and tree is not None:
            found[tree] = [float(v) for v in line[10:].split()]
        elif line.startswith("end of trees"):
            break
    return found


def _objective(words: list[str]) -> tuple[str, float]:
    """The objective's name and its sigmoid parameter (1 where it has none)."""
    name = words[0] if words else "regression"
    sigmoid = 1.0
    for word in words[1:]:
        key, _, value = word.partition(":")
        if key == "sigmoid":
            sigmoid = float(value)
        if key == "sqrt" or word == "sqrt":
            raise ValueError("regression with reg_sqrt is not converted")
    return name, sigmoid


def convert_lightgbm_exact(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter for LGBMClassifier / LGBMRegressor and the native file wrappers."""
    from onnx import TensorProto

    model = operator.raw_operator
    booster = model.booster_
    thresholds = text_thresholds(booster.model_to_string(num_iteration=-1))
    ensemble = Ensemble(booster.dump_model(), thresholds)
    name, sigmoid = _objective(ensemble.objective)

    def variable(hint: str) -> str:
        return scope.get_unique_variable_name(hint)

    def node(op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = variable(hint)
        container.add_node(op, inputs, [out], name=scope.get_unique_operator_name(op), **attrs)
        return out

    def constant(hint: str, kind: int, values: list[Any], shape: list[int]) -> str:
        out = variable(hint)
        container.add_initializer(out, kind, shape, values)
        return out

    if len(operator.inputs) != 1:
        raise ValueError("the LightGBM converter takes one input tensor")
    x = operator.inputs[0].full_name
    x = node("Cast", [x], "lgbm_input", to=TensorProto.DOUBLE)
    if ensemble.near_zero_threshold or ensemble.zero_as_nan:
        # LightGBM's C API reads |x| <= 1e-35f as 0 (it skips such cells as sparse zeros)
        limit = constant("lgbm_zero_limit", TensorProto.DOUBLE, [ZERO_THRESHOLD], [])
        zero = constant("lgbm_zero", TensorProto.DOUBLE, [0.0], [])
        tiny = node("LessOrEqual", [node("Abs", [x], "lgbm_abs"), limit], "lgbm_tiny")
        x = node("Where", [tiny, zero, x], "lgbm_zeroed")
    if ensemble.zero_as_nan:
        width = int(booster.num_feature())
        mask = [i in ensemble.zero_as_nan for i in range(width)]
        columns = constant("lgbm_zero_missing", TensorProto.BOOL, mask, [1, width])
        zero = constant("lgbm_zero2", TensorProto.DOUBLE, [0.0], [])
        nan = constant("lgbm_nan", TensorProto.DOUBLE, [float("nan")], [])
        missing = node("And", [node("Equal", [x, zero], "lgbm_is_zero"), columns], "lgbm_zm")
        x = node("Where", [missing, nan, x], "lgbm_zero_as_nan")
    raw = variable("lgbm_raw")
    container.add_node(
        "TreeEnsemble",
        [x],
        [raw],
        op_domain="ai.onnx.ml",
        op_version=3,  # skl2onnx writes at most 3; onnx.convert raises the import to ML_OPSET
        name=scope.get_unique_operator_name("TreeEnsemble"),
        **ensemble.attributes(),
    )
    if ensemble.average:  # random forest: LightGBM divides the sum by the iterations
        count = constant("lgbm_iterations", TensorProto.DOUBLE, [ensemble.iterations], [])
        raw = node("Div", [raw, count], "lgbm_average")

    classifier = getattr(model, "classes_", None) is not None and len(operator.outputs) >= 2
    if not classifier:
        if name in _EXP:
            raw = node("Exp", [raw], "lgbm_exp")
        elif name not in _IDENTITY and not name.startswith("regression"):
            raise ValueError(f"LightGBM objective {name!r} is not converted")
        _emit(container, scope, raw, operator.outputs[0])
        return
    if name not in ("binary", "multiclass", "multiclassova"):
        raise ValueError(f"LightGBM objective {name!r} is not converted for a classifier")
    if name == "multiclass":
        proba = node("Softmax", [raw], "lgbm_softmax", axis=1)
    else:
        scale = constant("lgbm_sigmoid", TensorProto.DOUBLE, [sigmoid], [])
        proba = node("Sigmoid", [node("Mul", [raw, scale], "lgbm_scaled")], "lgbm_sigmoid")
    if name == "binary":
        one = constant("lgbm_one", TensorProto.DOUBLE, [1.0], [])
        proba = node("Concat", [node("Sub", [one, proba], "lgbm_p0"), proba], "lgbm_p", axis=1)
    _emit(container, scope, proba, operator.outputs[1])
    # the first most probable class, as LGBMClassifier.predict's argmax
    index = node("ArgMax", [proba], "lgbm_index", axis=1, keepdims=0)
    classes = np.asarray(model.classes_)
    if classes.dtype.kind in "iub":
        labels = constant("lgbm_classes", TensorProto.INT64, classes.astype(np.int64).tolist(),
                          [len(classes)])  # fmt: skip
    else:
        labels = constant("lgbm_classes", TensorProto.STRING,
                          [str(c).encode() for c in classes], [len(classes)])  # fmt: skip
    container.add_node("Gather", [labels, index], [operator.outputs[0].full_name], axis=0,
                       name=scope.get_unique_operator_name("Gather"))  # fmt: skip


def _emit(container: Any, scope: Any, value: str, output: Any) -> None:
    """Write a float64 result to a declared output, cast when it was declared float32."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import DoubleTensorType

    if isinstance(output.type, DoubleTensorType):
        container.add_node("Identity", [value], [output.full_name],
                           name=scope.get_unique_operator_name("Identity"))  # fmt: skip
    else:
        container.add_node("Cast", [value], [output.full_name], to=TensorProto.FLOAT,
                           name=scope.get_unique_operator_name("Cast"))  # fmt: skip
