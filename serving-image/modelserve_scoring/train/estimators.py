"""Build the allow-listed estimator (in a Pipeline after any preprocessing steps) from the spec."""

from __future__ import annotations

import importlib
import math
from typing import Any

from modelserve_api.tasks import ALL_ESTIMATORS, PREPROCESSORS
from modelserve_api.training import HyperparameterSearch, TrainingSpec, TrainingStep

from modelserve_scoring.train.errors import TrainingSpecError

ESTIMATOR_STEP = "estimator"


def _class(class_name: str, field: str) -> type:
    # The allow-list is checked again here: nothing outside it is ever imported.
    if class_name not in ALL_ESTIMATORS and class_name not in PREPROCESSORS:
        raise TrainingSpecError([(field, f"{class_name!r} is not allow-listed")])
    module, _, name = class_name.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _instance(step: TrainingStep, field: str, seed: int) -> Any:
    cls = _class(step.class_name, f"{field}.className")
    accepted = set(cls().get_params(deep=False))
    unknown = sorted(set(step.params) - accepted)
    if unknown:
        raise TrainingSpecError(
            [
                (
                    f"{field}.params.{name}",
                    f"{step.short_name} has no parameter {name!r}; it takes "
                    + ", ".join(sorted(accepted)),
                )
                for name in unknown
            ]
        )
    params = dict(step.params)
    # Every random choice follows the split seed unless the spec pins its own.
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = seed
    instance = cls(**params)
    _check_values(instance, step, field)
    return instance


def _check_values(instance: Any, step: TrainingStep, field: str) -> None:
    """Refuse out-of-range values now (naming the field), not after loading the data."""
    validate = getattr(instance, "_validate_params", None)
    # XGBoost's and LightGBM's wrappers inherit the method but declare no constraints:
    # their libraries check the values when fitting, and the trainer reports that error.
    if validate is None or not hasattr(instance, "_parameter_constraints"):
        return
    try:
        validate()
    except (ValueError, TypeError) as error:
        raise TrainingSpecError([(f"{field}.params", str(error))]) from None


def build_estimator(spec: TrainingSpec) -> Any:
    """An unfitted estimator, or a Pipeline of the preprocessing steps and the estimator."""
    seed = spec.split.seed
    estimator = _instance(spec.estimator, "estimator", seed)
    if not spec.preprocessing:
        return estimator
    from sklearn.pipeline import Pipeline

    steps = [
        (f"step{index}", _instance(step, f"preprocessing[{index}]", seed))
        for index, step in enumerate(spec.preprocessing)
    ]
    return Pipeline([*steps, (ESTIMATOR_STEP, estimator)])


def search_space(
    model: Any, search: HyperparameterSearch, estimator: TrainingStep
) -> dict[str, list[Any]]:
    """The search's parameters as names ``model.set_params`` understands."""
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    target = model[-1] if isinstance(model, Pipeline) else model
    accepted = set(target.get_params(deep=False))
    unknown = sorted(set(search.parameters) - accepted)
    if unknown:
        raise TrainingSpecError(
            [
                (
                    f"search.parameters.{name}",
                    f"{estimator.short_name} has no parameter {name!r}; it takes "
                    + ", ".join(sorted(accepted)),
                )
                for name in unknown
            ]
        )
    problems = []
    for name, values in search.parameters.items():
        for index, value in enumerate(values):
            try:
                candidate = clone(target).set_params(**{name: value})
            except (ValueError, TypeError) as error:
                problems.append((f"search.parameters.{name}[{index}]", str(error)))
                continue
            try:
                _check_values(candidate, estimator, "search")
            except TrainingSpecError as error:
                problems += [(f"search.parameters.{name}[{index}]", m) for _, m in error.problems]
    if problems:
        raise TrainingSpecError(problems)
    prefix = f"{ESTIMATOR_STEP}__" if isinstance(model, Pipeline) else ""
    return {prefix + name: list(values) for name, values in search.parameters.items()}


def estimator_params(model: Any) -> dict[str, Any]:
    """The final estimator's own parameters as JSON-friendly values."""
    from sklearn.pipeline import Pipeline

    target = model[-1] if isinstance(model, Pipeline) else model
    params = {}
    for name, value in sorted(target.get_params(deep=False).items()):
        if isinstance(value, float) and not math.isfinite(value):
            params[name] = repr(value)  # XGBoost's missing=nan: JSON has no NaN
        elif value is None or isinstance(value, bool | int | float | str):
            params[name] = value
        elif isinstance(value, list | tuple) and all(
            isinstance(v, bool | int | float | str) for v in value
        ):
            params[name] = list(value)
        else:
            params[name] = repr(value)
    return params
