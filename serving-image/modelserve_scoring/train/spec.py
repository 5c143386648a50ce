"""The training spec (the shape of `Model.spec.training`), with errors that name the field."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from modelserve_scoring.train.errors import TrainingSpecError
from modelserve_scoring.train.gate import parse_gate
from modelserve_scoring.train.tasks import (
    BUNDLED_DATASETS,
    BUNDLED_TARGET,
    ESTIMATOR_TASK,
    METRICS,
    PREPROCESSORS,
    SINGLE_ROW_METRICS,
)

# A grid this large on two shared cores would run for hours; ask for random search instead.
MAX_GRID_CANDIDATES = 1000
FRACTION_TOLERANCE = 1e-6
_PARENT_SEGMENT = re.compile(r"(^|/)\.\.(/|$)")


class _Spec(BaseModel):
    # Unknown fields are refused: a typo in a training spec must not silently train
    # something else.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class DataSpec(_Spec):
    """Where the rows come from and which column is the target."""

    dataset: Literal[tuple(BUNDLED_DATASETS)] | None = None  # type: ignore[valid-type]
    claim_name: str | None = Field(default=None, min_length=1, max_length=253)
    path: str | None = Field(default=None, min_length=1, max_length=1024)
    format: Literal["csv", "parquet"] | None = None
    target: str | None = Field(default=None, min_length=1, max_length=256)
    features: list[str] | None = Field(default=None, min_length=1, max_length=10000)

    @field_validator("path")
    @classmethod
    def _relative_inside_volume(cls, path: str | None) -> str | None:
        if path is not None and (path.startswith("/") or _PARENT_SEGMENT.search(path)):
            raise ValueError(f"{path!r} must be a path relative inside the volume, without '..'")
        return path

    @field_validator("features")
    @classmethod
    def _unique(cls, features: list[str] | None) -> list[str] | None:
        if features is not None and len(set(features)) != len(features):
            raise ValueError("feature names must be unique")
        return features

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.dataset is None) == (self.path is None):
            raise ValueError("give either dataset (a bundled dataset) or path (a file), not both")
        if self.dataset is not None and (self.claim_name or self.format):
            raise ValueError("claimName and format belong to a file (path), not to a dataset")
        if self.dataset is not None and self.target not in (None, BUNDLED_TARGET):
            raise ValueError(
                f"the target of a bundled dataset is its {BUNDLED_TARGET!r} column, "
                f"not {self.target!r}"
            )
        if (
            self.path is not None
            and self.format is None
            and not self.path.lower().endswith((".csv", ".parquet", ".pq"))
        ):
            raise ValueError(f"cannot tell the format of {self.path!r}; set format: csv|parquet")
        return self

    @property
    def file_format(self) -> str:
        """csv or parquet: the given format, else the file's suffix."""
        if self.format:
            return self.format
        return "csv" if (self.path or "").lower().endswith(".csv") else "parquet"

    @property
    def target_column(self) -> str | None:
        """The target column (a bundled dataset's is always 'target')."""
        return BUNDLED_TARGET if self.dataset is not None else self.target


class StepSpec(_Spec):
    """An allow-listed scikit-learn class and its parameters."""

    class_name: str = Field(min_length=1, max_length=256)
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def short_name(self) -> str:
        """The class name without its module, e.g. LogisticRegression."""
        return self.class_name.rsplit(".", 1)[-1]


class SplitSpec(_Spec):
    """Train/validation/test fractions of the rows, and the seed of every random choice."""

    train: float = Field(default=0.7, gt=0, lt=1)
    validation: float = Field(default=0.15, ge=0, lt=1)
    test: float = Field(default=0.15, gt=0, lt=1)
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    stratify: bool = True

    @model_validator(mode="after")
    def _adds_up(self) -> SplitSpec:
        total = self.train + self.validation + self.test
        if not math.isclose(total, 1.0, abs_tol=FRACTION_TOLERANCE):
            raise ValueError(f"train + validation + test must add up to 1, got {total:g}")
        return self


class CrossValidationSpec(_Spec):
    """k-fold (or leave-one-out) cross-validation on the training part."""

    strategy: Literal["kfold", "leaveOneOut"] = "kfold"
    folds: int = Field(default=5, ge=2, le=50)
    metric: str | None = None


class SearchSpec(_Spec):
    """Hyper-parameter search over estimator parameters."""

    method: Literal["grid", "random"] = "grid"
    parameters: dict[str, list[Any]] = Field(min_length=1, max_length=32)
    iterations: int = Field(default=10, ge=1, le=1000)
    metric: str | None = None

    @field_validator("parameters")
    @classmethod
    def _non_empty_lists(cls, parameters: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = sorted(name for name, values in parameters.items() if not values)
        if empty:
            raise ValueError(f"give at least one value for {', '.join(empty)}")
        return parameters

    @property
    def grid_size(self) -> int:
        """How many parameter combinations the grid holds."""
        return math.prod(len(values) for values in self.parameters.values())


class TrainingSpec(_Spec):
    """Everything the trainer needs; the same shape as Model.spec.training."""

    task: Literal["classification", "regression", "clustering"]
    data: DataSpec
    estimator: StepSpec
    preprocessing: list[StepSpec] = Field(default_factory=list, max_length=16)
    split: SplitSpec = Field(default_factory=SplitSpec)
    cross_validation: CrossValidationSpec | None = None
    search: SearchSpec | None = None
    metrics: list[str] | None = Field(default=None, min_length=1)
    gate: str | None = Field(default=None, max_length=512)
    # Read by the operator for the training Job, not by the trainer.
    resources: dict[str, Any] | None = None
    timeout_seconds: int | None = None

    @property
    def metric_names(self) -> list[str]:
        """Metrics to compute on the test part: those asked for plus any the gate needs."""
        names = list(self.metrics or METRICS[self.task])
        if self.gate:
            names += [m for m in parse_gate(self.gate).metrics if m not in names]
        return names


def _cross_field_problems(spec: TrainingSpec) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    task = spec.task
    allowed = METRICS[task]
    estimator_task = ESTIMATOR_TASK.get(spec.estimator.class_name)
    if estimator_task is None:
        problems.append(
            (
                "estimator.className",
                f"{spec.estimator.class_name!r} is not allow-listed; {task} allows "
                + ", ".join(name for name, t in ESTIMATOR_TASK.items() if t == task),
            )
        )
    elif estimator_task != task:
        problems.append(
            (
                "estimator.className",
                f"{spec.estimator.short_name} is a {estimator_task} estimator but task is {task}",
            )
        )
    for index, step in enumerate(spec.preprocessing):
        if step.class_name not in PREPROCESSORS:
            problems.append(
                (
                    f"preprocessing[{index}].className",
                    f"{step.class_name!r} is not allow-listed; use one of "
                    + ", ".join(PREPROCESSORS),
                )
            )
    if spec.data.target_column is None and task != "clustering":
        problems.append(("data.target", f"a {task} task needs the target column"))
    for index, name in enumerate(spec.metrics or []):
        if name not in allowed:
            problems.append(
                (f"metrics[{index}]", f"{name!r} is not a {task} metric; use {', '.join(allowed)}")
            )
    if spec.gate is not None:
        try:
            gate = parse_gate(spec.gate)
        except ValueError as error:
            problems.append(("gate", str(error)))
        else:
            for name in gate.metrics:
                if name not in allowed:
                    problems.append(
                        ("gate", f"{name!r} is not a {task} metric; use {', '.join(allowed)}")
                    )
    for path, part in (("crossValidation", spec.cross_validation), ("search", spec.search)):
        if part is not None and part.metric is not None and part.metric not in allowed:
            message = f"{part.metric!r} is not a {task} metric; use {', '.join(allowed)}"
            problems.append((f"{path}.metric", message))
    cv = spec.cross_validation
    if cv is not None and cv.strategy == "leaveOneOut":
        metric = cv.metric or ("accuracy" if task == "classification" else "mse")
        if task == "clustering" or metric not in SINGLE_ROW_METRICS:
            problems.append(
                (
                    "crossValidation.metric",
                    f"leave-one-out scores one row per fold, where {metric} means nothing; "
                    "use accuracy (classification), mse or mae (regression), or kfold",
                )
            )
    search = spec.search
    if search is not None:
        if cv is None and spec.split.validation == 0:
            problems.append(
                (
                    "search",
                    "a search needs crossValidation or a validation part (split.validation > 0) "
                    "to compare candidates on",
                )
            )
        if search.method == "grid" and search.grid_size > MAX_GRID_CANDIDATES:
            problems.append(
                (
                    "search.parameters",
                    f"the grid has {search.grid_size} candidates (at most {MAX_GRID_CANDIDATES}); "
                    "use method: random with iterations",
                )
            )
        if cv is not None and cv.strategy == "leaveOneOut":
            problems.append(("search", "searching with leave-one-out is too slow; use kfold"))
    return problems


def _location(loc: tuple[str | int, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def parse_training_spec(document: dict[str, Any] | str) -> TrainingSpec:
    """Validate a training spec (a mapping or JSON text); TrainingSpecError names each field."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as error:
            raise TrainingSpecError([("", f"the spec is not valid JSON: {error}")]) from None
    if not isinstance(document, dict):
        raise TrainingSpecError([("", "the spec must be a JSON object")])
    try:
        spec = TrainingSpec.model_validate(document)
    except ValidationError as error:
        raise TrainingSpecError(
            [
                (_location(item["loc"]), str(item["msg"]).removeprefix("Value error, "))
                for item in error.errors()
            ]
        ) from None
    problems = _cross_field_problems(spec)
    if problems:
        raise TrainingSpecError(problems)
    # Parameters are checked by the classes themselves (names and value ranges).
    from modelserve_scoring.train.estimators import build_estimator, search_space

    model = build_estimator(spec)
    if spec.search is not None:
        search_space(model, spec.search, spec.estimator)
    return spec
