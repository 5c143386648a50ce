"""Native XGBoost (.json, .ubj) and LightGBM (.txt) model files, as scikit-learn-like estimators.

Loaded from bytes whose digest was already checked; nothing is unpickled. XGBoost's own
scikit-learn wrappers load its files; LightGBM's cannot, so a small wrapper around its Booster
answers predict / predict_proba, deciding classifier or regressor from the booster's objective.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin

from modelserve_scoring.errors import ArtifactError

#: file suffix -> the framework whose native format it is
NATIVE_SUFFIXES = {".json": "xgboost", ".ubj": "xgboost", ".txt": "lightgbm"}

_XGB_CLASSIFIER_OBJECTIVES = frozenset({"binary:logistic", "multi:softprob", "multi:softmax"})
_XGB_REGRESSOR_PREFIXES = ("reg:", "count:poisson")
_LGB_CLASSIFIER_OBJECTIVES = frozenset({"binary", "multiclass", "multiclassova"})
_LGB_REGRESSOR_OBJECTIVES = frozenset(
    {"regression", "regression_l1", "huber", "fair", "poisson", "quantile", "mape", "gamma",
     "tweedie"}
)  # fmt: skip
# LightGBM names unnamed columns Column_0, Column_1, ...: those are no feature names
_DEFAULT_LGB_NAME = re.compile(r"Column_\d+")


def load_native(data: bytes, suffix: str, where: str) -> Any:
    """The estimator a native model file holds; ArtifactError when it cannot be served."""
    framework = NATIVE_SUFFIXES.get(suffix.lower())
    if framework == "xgboost":
        return load_xgboost(data, where)
    if framework == "lightgbm":
        return load_lightgbm(data, where)
    raise ArtifactError(f"{where}: {suffix!r} is not a native XGBoost or LightGBM model file")


def load_xgboost(data: bytes, where: str) -> Any:
    """An XGBClassifier or XGBRegressor loaded from an XGBoost JSON or UBJSON model."""
    try:
        import xgboost
    except (ImportError, OSError) as exc:  # OSError: its OpenMP library (libgomp) is missing
        raise ArtifactError(f"{where} is an XGBoost model but xgboost cannot load: {exc}") from exc
    try:
        booster = xgboost.Booster()
        booster.load_model(bytearray(data))
        objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    except Exception as exc:
        raise ArtifactError(f"cannot load {where} as an XGBoost model: {exc}") from exc
    if objective in _XGB_CLASSIFIER_OBJECTIVES:
        model = xgboost.XGBClassifier()
    elif objective.startswith(_XGB_REGRESSOR_PREFIXES):
        model = xgboost.XGBRegressor()
    else:
        raise ArtifactError(
            f"{where}: XGBoost objective {objective!r} cannot be served (served: "
            f"{', '.join(sorted(_XGB_CLASSIFIER_OBJECTIVES))}, reg:*, count:poisson)"
        )
    # the wrapper's own loader sets classes_, n_features_in_ and feature names from the file
    model.load_model(bytearray(data))
    return model


def load_lightgbm(data: bytes, where: str) -> Any:
    """A LightGBM text model wrapped as a classifier or regressor, by its objective."""
    try:
        import lightgbm
    except (ImportError, OSError) as exc:  # OSError: its OpenMP library (libgomp) is missing
        raise ArtifactError(f"{where} is a LightGBM model but lightgbm cannot load: {exc}") from exc
    try:
        booster = lightgbm.Booster(model_str=data.decode("utf-8"))
        # the header of a one-iteration dump names the objective; all trees are not needed
        objective = str(booster.dump_model(num_iteration=1)["objective"]).split()[0]
    except Exception as exc:
        raise ArtifactError(f"cannot load {where} as a LightGBM model: {exc}") from exc
    if objective in _LGB_CLASSIFIER_OBJECTIVES:
        return LightGBMNativeClassifier(booster)
    if objective in _LGB_REGRESSOR_OBJECTIVES:
        return LightGBMNativeRegressor(booster)
    raise ArtifactError(
        f"{where}: LightGBM objective {objective!r} cannot be served (served: "
        f"{', '.join(sorted(_LGB_CLASSIFIER_OBJECTIVES | _LGB_REGRESSOR_OBJECTIVES))})"
    )


class LightGBMNative:
    """A LightGBM Booster loaded from its text format, with what scikit-learn estimators tell."""

    def __init__(self, booster: Any) -> None:
        self.booster_ = booster
        self.n_features_in_ = int(booster.num_feature())
        # as LGBMClassifier / LGBMRegressor tell it ("rf" averages its trees instead of summing)
        self.boosting_type = str(booster.params.get("boosting", "gbdt"))
        names = [str(n) for n in booster.feature_name()]
        if not all(_DEFAULT_LGB_NAME.fullmatch(n) for n in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)

    def _raw(self, rows: Any) -> np.ndarray:
        # pandas frames keep their column order; the booster checks the width
        return np.asarray(self.booster_.predict(np.asarray(rows, dtype=np.float64)))


class LightGBMNativeRegressor(RegressorMixin, LightGBMNative):
    """A LightGBM regression booster, answering like LGBMRegressor."""

    def predict(self, rows: Any) -> np.ndarray:
        """The booster's prediction (its objective's output transform applied)."""
        return self._raw(rows)


# the mixins tell skl2onnx's parser (and is_classifier) which outputs the model has
class LightGBMNativeClassifier(ClassifierMixin, LightGBMNative):
    """A LightGBM Booster with a binary or multi-class objective, answering like LGBMClassifier."""

    def __init__(self, booster: Any) -> None:
        super().__init__(booster)
        n_classes = max(int(booster.dump_model(num_iteration=1).get("num_class", 1)), 2)
        #: native files know no labels: classes are 0..n-1, as LightGBM itself numbers them
        self.classes_ = np.arange(n_classes)

    def predict_proba(self, rows: Any) -> np.ndarray:
        """Probability per class; a binary booster gives P(class 1) only."""
        raw = self._raw(rows)
        if raw.ndim == 1:
            return np.column_stack([1.0 - raw, raw])
        return raw

    def predict(self, rows: Any) -> np.ndarray:
        """The most probable class (the first on a tie, as LGBMClassifier)."""
        return self.classes_[np.argmax(self.predict_proba(rows), axis=1)]


def library_versions(model: Any) -> dict[str, str]:
    """xgboost_version / lightgbm_version when the model (or its last step) is a booster."""
    while type(model).__name__ == "Pipeline":
        model = model.steps[-1][1]
    library = booster_library(model)
    if library is None:
        return {}
    import importlib

    return {f"{library}_version": importlib.import_module(library).__version__}


def booster_library(model: Any) -> str | None:
    """ "xgboost" or "lightgbm" for a booster (wrapper or native file), else None."""
    if isinstance(model, LightGBMNative):
        return "lightgbm"
    module = type(model).__module__.split(".")[0]
    return module if module in ("xgboost", "lightgbm") else None


def is_booster(model: Any) -> bool:
    """Whether the estimator is an XGBoost or LightGBM model (wrapper or native file)."""
    return booster_library(model) is not None
