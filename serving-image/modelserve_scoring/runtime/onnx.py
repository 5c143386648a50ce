"""A scikit-learn model compiled to ONNX (skl2onnx) and served by ONNX Runtime.

Rows the compiled model was not checked on are answered by scikit-learn instead: missing or
infinite values, numbers too large for float32, non-numbers, unknown categories. Errors and
missing-value handling therefore stay exactly scikit-learn's (an XGBoost or LightGBM graph
answers missing values once compile.py checked it routes them as the library does). So are rows
whose two best classes the compiled model cannot tell apart within its own precision (a forest
split 50/50 between two classes): scikit-learn breaks such ties by class order, which float32
sums cannot.
"""

from __future__ import annotations

import heapq
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelserve_scoring.runtime.base import ModelRuntime
from modelserve_scoring.runtime.boosters import booster_library, is_booster
from modelserve_scoring.runtime.introspect import (
    categorical_columns,
    final_estimator,
    has_column_transformer,
    pipeline_prefix,
    trees_of,
)
from modelserve_scoring.runtime.lightgbm_onnx import ML_OPSET as LIGHTGBM_ML_OPSET

log = logging.getLogger(__name__)

PRECISIONS = ("double", "float")
_NUMPY_TYPES = {"double": np.float64, "float": np.float32}
# probabilities closer than this (float32 graphs sum leaf values in single precision) may be
# an exact tie in scikit-learn's float64 arithmetic
_AMBIGUOUS = {"double": 1e-12, "float": 1e-5}
# classifiers whose predict() is by definition classes_[argmax(predict_proba())]
_ARGMAX_CLASSIFIERS = frozenset(
    {
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "DecisionTreeClassifier",
        "ExtraTreeClassifier",
    }
)

Outputs = tuple[np.ndarray, np.ndarray | None]


#: Up to this many rows, the tie check runs on Python floats: numpy's per-call overhead made it
#: about 2.4 µs for one row against 0.2 µs (python -m timeit), a few percent of a one-row
#: prediction (bench/scoring.py, 1 row x 8 clients).
_FEW_ROWS = 8


def _top_two_margin(row: list[float]) -> float:
    """The difference between a row's two largest probabilities."""
    if len(row) == 2:
        return abs(row[0] - row[1])
    first, second = heapq.nlargest(2, row)
    return first - second


@dataclass(frozen=True)
class InputLayout:
    """How request rows become ONNX inputs: one matrix, or one [N, 1] input per column."""

    n_features: int
    names: tuple[str, ...] | None = None
    #: column position -> known categories, for string columns
    categories: dict[int, frozenset[str]] = field(default_factory=dict)

    @property
    def per_column(self) -> bool:
        """One input per column (needed to select columns by name, and for strings)."""
        return self.names is not None

    def signature(self) -> str:
        """A stable description, part of the compiled-model cache key."""
        if self.names is None:
            return f"matrix:{self.n_features}"
        kinds = ",".join(
            f"{name}:{'str' if i in self.categories else 'num'}"
            for i, name in enumerate(self.names)
        )
        return f"columns:{kinds}"


def input_layout(model: Any, n_features: int, feature_names: list[str] | None) -> InputLayout:
    """The layout the model needs: per column when it selects columns by name or has strings."""
    categories = categorical_columns(model, n_features)
    if feature_names is not None and (categories or has_column_transformer(model)):
        return InputLayout(
            n_features,
            tuple(feature_names),
            {i: frozenset(c) for i, c in categories.items()},
        )
    return InputLayout(n_features)


def precision_order(model: Any) -> tuple[str, ...]:
    """Which graph to try first.

    float64 arithmetic first, except for tree models fed the raw input: scikit-learn's trees
    compare float32(x) with each threshold, and skl2onnx's float32 graph stores thresholds
    adjusted to exactly that comparison, so it reproduces every decision. Its float64 graph
    still stores float32 thresholds (ONNX-ML opset 1) but no longer rounds x, so it can flip
    decisions at the thresholds (bench/onnx_exactness.py measures both).
    """
    final = final_estimator(model)
    library = booster_library(final)
    if library is not None:
        # onnxmltools builds float32 tree ensembles for XGBoost, which may follow float64 steps
        # (a scaler) through a cast, as XGBoost itself rounds what it is given to float32
        if library == "lightgbm":
            # LightGBM compares float64: its graph is float64 throughout (lightgbm_onnx.py)
            return ("double",)
        if pipeline_prefix(model) is not None:
            return ("double", "float")
        return ("float",)
    if pipeline_prefix(model) is None and trees_of(final_estimator(model)):
        return ("float", "double")
    return PRECISIONS


_registered = False


class _WithInput:
    """The operator as a converter sees it, reading another input (skl2onnx's is read-only)."""

    def __init__(self, operator: Any, variable: Any) -> None:
        self._operator = operator
        self.inputs = [variable]
        self.input_full_names = [variable.full_name]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._operator, name)


def _float32_input(convert: Any) -> Any:
    """An XGBoost converter that also takes a float64 graph: XGBoost rounds its input to
    float32 itself, so the graph casts there too, after its float64 steps (a scaler)."""

    def convert_float32_input(scope: Any, operator: Any, container: Any) -> None:
        from onnx import TensorProto
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

        source = operator.inputs[0]
        if not isinstance(source.type, DoubleTensorType):
            convert(scope, operator, container)
            return
        cast = scope.declare_local_variable("booster_input", FloatTensorType(source.type.shape))
        name = scope.get_unique_operator_name("CastBoosterInput")
        container.add_node(
            "Cast", source.full_name, cast.full_name, name=name, to=TensorProto.FLOAT
        )
        convert(scope, _WithInput(operator, cast), container)

    return convert_float32_input


def _float32_outputs(calculate: Any) -> Any:
    """Shapes as skl2onnx computes them, but float32: the tree ensemble's outputs are."""

    def calculate_float32_outputs(operator: Any) -> None:
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

        calculate(operator)
        for output in operator.outputs:
            if isinstance(output.type, DoubleTensorType):
                output.type = FloatTensorType(output.type.shape)

    return calculate_float32_outputs


def register_booster_converters() -> None:
    """Teach skl2onnx the XGBoost (onnxmltools' converter) and LightGBM (lightgbm_onnx.py)
    estimators, so they convert alone and as a Pipeline's last step; a library not installed
    is skipped."""
    global _registered
    if _registered:
        return
    from skl2onnx import update_registered_converter

    # skl2onnx's own shape calculators: onnxmltools' check inputs against onnxmltools' type
    # classes, which are not the ones skl2onnx builds the graph with
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    from modelserve_scoring.runtime.boosters import (
        LightGBMNativeClassifier,
        LightGBMNativeRegressor,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        import xgboost
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    except (ImportError, OSError):  # OSError: OpenMP (libgomp) missing
        log.debug("xgboost or onnxmltools missing: XGBoost models will not be compiled")
    else:
        update_registered_converter(
            xgboost.XGBClassifier,
            "XGBoostXGBClassifier",
            _float32_outputs(calculate_linear_classifier_output_shapes),
            _float32_input(convert_xgboost),
            options=classifier_options,
        )
        update_registered_converter(
            xgboost.XGBRegressor,
            "XGBoostXGBRegressor",
            _float32_outputs(calculate_linear_regressor_output_shapes),
            _float32_input(convert_xgboost),
        )
    try:
        import lightgbm

        from modelserve_scoring.runtime.lightgbm_onnx import convert_lightgbm_exact
    except (ImportError, OSError):  # OSError: OpenMP (libgomp) missing
        log.debug("lightgbm missing: LightGBM models will not be compiled")
    else:
        # the converter reads only booster_ and classes_, which the native wrappers have
        for model, alias in (
            (lightgbm.LGBMClassifier, "LightGbmLGBMClassifier"),
            (LightGBMNativeClassifier, "LightGbmNativeClassifier"),
        ):
            update_registered_converter(
                model,
                alias,
                calculate_linear_classifier_output_shapes,
                convert_lightgbm_exact,
                options=classifier_options,
            )
        for model, alias in (
            (lightgbm.LGBMRegressor, "LightGbmLGBMRegressor"),
            (LightGBMNativeRegressor, "LightGbmNativeRegressor"),
        ):
            update_registered_converter(
                model, alias, calculate_linear_regressor_output_shapes, convert_lightgbm_exact
            )
    _registered = True


def convert(model: Any, layout: InputLayout, precision: str) -> bytes:
    """The model as a serialized ONNX graph; raises whatever skl2onnx raises."""
    from skl2onnx import convert_sklearn

    booster = is_booster(final_estimator(model))
    if booster:
        # Only for them: importing both libraries and the converters costs a scikit-learn
        # model's pod about 7 MB of RSS for nothing.
        register_booster_converters()
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    number = DoubleTensorType if precision == "double" else FloatTensorType
    if layout.names is None:
        initial = [("X", number([None, layout.n_features]))]
    else:
        initial = [
            (name, StringTensorType([None, 1]) if i in layout.categories else number([None, 1]))
            for i, name in enumerate(layout.names)
        ]
    options = None
    if getattr(final_estimator(model), "classes_", None) is not None:
        # plain label and probability tensors instead of a list of dicts per row
        options = {id(final_estimator(model)): {"zipmap": False}}
    target_opset = None
    if booster:
        from skl2onnx import get_latest_tested_opset_version

        # onnxmltools' XGBoost converter writes ai.onnx.ml opset 3 tree ensembles; ours for
        # LightGBM the opset 5 TreeEnsemble (float64 thresholds and sums)
        # (declared as 3 while skl2onnx builds the graph: it refuses to write a higher one)
        target_opset = {"": get_latest_tested_opset_version(), "ai.onnx.ml": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = convert_sklearn(
            model, initial_types=initial, options=options, target_opset=target_opset
        )
    if booster_library(final_estimator(model)) == "lightgbm":
        for opset in graph.opset_import:
            if opset.domain == "ai.onnx.ml":
                opset.version = max(opset.version, LIGHTGBM_ML_OPSET)
    return graph.SerializeToString()


def open_session(data: bytes, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session; raises if the runtime refuses the graph."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # the server answers small batches on one event loop: spinning threads only burn CPU
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


class OnnxRuntime(ModelRuntime):
    """Predicts through an ONNX Runtime session; `reference` (scikit-learn) takes the rest."""

    kind = "onnx"

    def __init__(
        self, reference: ModelRuntime, session: Any, layout: InputLayout, precision: str
    ) -> None:
        self.reference = reference
        self.session = session
        self.layout = layout
        self.precision = precision
        self.n_features = reference.n_features
        self.feature_names = reference.feature_names
        self.classes = reference.classes
        self.predict_dtype = reference.predict_dtype
        self._dtype = _NUMPY_TYPES[precision]
        self._inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        self._classifier = reference.classes is not None
        self._proba_index = None
        if self._classifier and len(outputs) >= 2:
            self._proba_index = outputs.index("probabilities") if "probabilities" in outputs else 1
        self._label_dtype: np.dtype | None = None
        self._flat = True
        self._ambiguous = _AMBIGUOUS[precision]
        final = final_estimator(getattr(reference, "model", None))
        self._argmax_labels = type(final).__name__ in _ARGMAX_CLASSIFIERS and reference.has_proba
        #: rows answered by scikit-learn because the compiled model was not checked on them
        self.delegated_rows = 0
        #: whether rows with missing values (NaN) go to the graph: only once compile.py has
        #: checked that it routes them as the reference does (XGBoost, LightGBM)
        self.answers_missing = False
        self._last: tuple[np.ndarray, Outputs | None] | None = None

    def load(self) -> None:
        """Nothing to load: compile.py builds this runtime from a loaded scikit-learn one."""

    def match_reference(self, predictions: np.ndarray) -> None:
        """Return predictions with scikit-learn's dtype and shape (labels, 1-D or 2-D)."""
        self._label_dtype = predictions.dtype
        self._flat = predictions.ndim == 1

    @property
    def has_proba(self) -> bool:
        """Whether the compiled graph gives probabilities (as scikit-learn does)."""
        return self._proba_index is not None and self.reference.has_proba

    def _numbers(self, values: np.ndarray) -> np.ndarray | None:
        if values.dtype != self._dtype:
            try:
                with np.errstate(over="ignore"):
                    values = values.astype(self._dtype)
            except (TypeError, ValueError):
                return None
        # NaN, infinity and float32 overflow go to scikit-learn (NaN stays when it was checked)
        usable = np.isfinite(values)
        if self.answers_missing:
            usable |= np.isnan(values)
        if not usable.all():
            return None
        return np.ascontiguousarray(values)

    def _feed(self, rows: np.ndarray) -> dict[str, np.ndarray] | None:
        layout = self.layout
        if layout.names is None:
            values = self._numbers(rows)
            return None if values is None else {self._inputs[0]: values}
        feed = {}
        for i, name in enumerate(self._inputs):
            column = rows[:, i : i + 1]
            known = layout.categories.get(i)
            if known is None:
                values = self._numbers(column)
                if values is None:
                    return None
                feed[name] = values
            elif all(isinstance(v, str) and v in known for v in column.ravel()):
                feed[name] = column.astype(object)
            else:
                return None
        return feed

    def run(self, rows: np.ndarray) -> Outputs | None:
        """(predictions, probabilities) from the compiled model, or None when scikit-learn
        must answer these rows."""
        last = self._last
        if last is not None and last[0] is rows:
            return last[1]
        feed = self._feed(rows)
        result = None
        if feed is None:
            self.delegated_rows += len(rows)
        else:
            outputs = self.session.run(None, feed)
            predictions = outputs[0]
            if self._flat and predictions.ndim > 1:
                predictions = predictions.reshape(len(rows))
            if self._label_dtype is not None and predictions.dtype != self._label_dtype:
                predictions = predictions.astype(self._label_dtype)
            proba = None
            if self._proba_index is not None:
                proba = np.asarray(outputs[self._proba_index], dtype=np.float64)
                predictions, proba = self._settle_ties(rows, predictions, proba)
            result = (predictions, proba)
        # predict and predict_proba on the same batch share one session run
        self._last = (rows, result)
        return result

    def _settle_ties(
        self, rows: np.ndarray, predictions: np.ndarray, proba: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows whose two best classes are within the graph's precision: scikit-learn's."""
        if proba.ndim != 2 or proba.shape[1] < 2:
            return predictions, proba
        if len(proba) <= _FEW_ROWS and not any(
            _top_two_margin(row) <= self._ambiguous for row in proba.tolist()
        ):
            return predictions, proba
        if proba.shape[1] == 2:
            margin = np.abs(proba[:, 0] - proba[:, 1])
        else:
            top = np.partition(proba, -2, axis=1)
            margin = top[:, -1] - top[:, -2]
        close = margin <= self._ambiguous
        if not close.any():
            return predictions, proba
        subset = rows[close]
        predictions = predictions.copy()
        if self._argmax_labels:
            # one pass of the forest instead of two: its predict is the argmax of these
            exact = self.reference.predict_proba(subset)
            proba[close] = exact
            classes = np.asarray(self.classes)
            predictions[close] = classes[np.argmax(exact, axis=1)]
        else:
            predictions[close] = self.reference.predict(subset)
            if self.reference.has_proba:
                proba[close] = self.reference.predict_proba(subset)
        self.delegated_rows += int(close.sum())
        return predictions, proba

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Predictions for a 2-D batch."""
        result = self.run(rows)
        return self.reference.predict(rows) if result is None else result[0]

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities for a 2-D batch."""
        if not self.has_proba:
            raise NotImplementedError("this model has no predict_proba")
        result = self.run(rows)
        if result is None or result[1] is None:
            return self.reference.predict_proba(rows)
        return result[1]

    def metadata(self) -> dict[str, Any]:
        """scikit-learn's metadata, with the runtime that actually answers."""
        import onnxruntime

        meta = self.reference.metadata()
        meta.update(
            runtime=self.kind,
            onnx_precision=self.precision,
            onnxruntime_version=onnxruntime.__version__,
            rows_answered_by_sklearn=self.delegated_rows,
        )
        if self.selection is not None:
            meta.update(self.selection)
        return meta
