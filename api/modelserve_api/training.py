"""The training contract: `Model.spec.training` (what the trainer runs), `Model.status.training`,
and the report the trainer leaves in its termination message.

One model, two strictness rules. The CRD types ignore unknown fields (the API server prunes
them, and an older operator must keep working against a newer CRD). The trainer refuses them
(``parse_training_spec(..., unknown="forbid")``): a typo in a hand-written spec must not
silently train something else. The rules that span fields (estimator fits the task, metrics
belong to it, ...) are the CRD's CEL rules, generated here from the same catalog, and
``training_problems`` in Python.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .common import (
    DNS_SUBDOMAIN,
    PARENT_SEGMENT,
    PARENT_SEGMENT_CEL,
    ApiModel,
    Quantity,
    SpecError,
    unknown_fields,
    validation_problems,
)
from .gate import gate_pattern, parse_gate
from .markers import Rule, kube
from .tasks import (
    ALL_ESTIMATORS,
    BUNDLED_DATASETS,
    BUNDLED_TARGET,
    ESTIMATOR_TASK,
    METRICS,
    PREPROCESSORS,
    SINGLE_ROW_METRICS,
    TASKS,
)

GATE_PATTERN = gate_pattern()
# Fractions of the split may miss 1 by this much (floating point).
FRACTION_TOLERANCE = 1e-6
# A grid this large on two shared cores would run for hours; random search instead.
MAX_GRID_CANDIDATES = 1000
ALL_METRICS = tuple(dict.fromkeys(m for task in TASKS for m in METRICS[task]))

# Exit codes of `modelserve-scoring train`. 2, 3 and 4 cannot be fixed by another try
# (the same spec, data and seed give the same result); 1 may be (a flaky volume).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_SPEC = 2
EXIT_GATE_FAILED = 3
EXIT_DATA = 4
PERMANENT_EXIT_CODES = (EXIT_SPEC, EXIT_GATE_FAILED, EXIT_DATA)
EXIT_MEANINGS = {
    EXIT_ERROR: "error",
    EXIT_SPEC: "invalid spec",
    EXIT_GATE_FAILED: "gate failed",
    EXIT_DATA: "data or estimator error",
}

_PARENT = re.compile(PARENT_SEGMENT)
# Validation context under which TrainingSpec leaves cross-field problems to the caller,
# who lists them one by one with their paths (parse_training_spec).
_LIST_PROBLEMS = "modelserve.list-training-problems"


def _cel_list(values: tuple[str, ...] | list[str]) -> str:
    """A CEL list of strings; a long one a value per line, so the CRD reads as a list."""
    quoted = [f"'{v}'" for v in values]
    if len(", ".join(quoted)) <= 60:
        return "[" + ", ".join(quoted) + "]"
    return "[\n  " + ",\n  ".join(quoted) + "]"


def _per_task(test: str, catalog: Mapping[str, tuple[str, ...]]) -> str:
    """CEL: ``test`` (an expression) is in the catalog's list of the spec's task."""
    return "\n|| ".join(
        f"(self.task == '{task}' && {test} in {_cel_list(catalog[task])})" for task in TASKS
    )


_METRICS_MESSAGE = (
    "accuracy, precision, recall, f1, roc_auc (classification); mse, mae, r2 (regression); "
    "silhouette (clustering)"
)
_ESTIMATORS_BY_TASK = {
    t: tuple(n for n, task in ESTIMATOR_TASK.items() if task == t) for t in TASKS
}
TRAINING_RULES = (
    Rule(
        _per_task("self.estimator.className", _ESTIMATORS_BY_TASK),
        "estimator.className does not fit the task: a classification task takes a classifier, "
        "regression a regressor, clustering a clusterer (see docs/training.md)",
        ".estimator.className",
    ),
    Rule(
        "self.task == 'clustering' || has(self.data.dataset) || has(self.data.target)",
        "data.target (the column to predict) is required unless the task is clustering",
        ".data.target",
    ),
    Rule(
        "!has(self.gate)\n|| "
        + "\n|| ".join(
            f"(self.task == '{task}' && self.gate.matches("
            f"'{gate_pattern('(' + '|'.join(METRICS[task]) + ')')}'))"
            for task in TASKS
        ),
        f"gate may only use the task's metrics: {_METRICS_MESSAGE}",
        ".gate",
    ),
    Rule(
        "!has(self.metrics) || self.metrics.all(m,\n" + _per_task("m", METRICS) + ")",
        f"metrics must be the task's metrics: {_METRICS_MESSAGE}",
        ".metrics",
    ),
    Rule(
        "!has(self.crossValidation) || !has(self.crossValidation.metric)\n|| "
        + _per_task("self.crossValidation.metric", METRICS),
        "crossValidation.metric must be one of the task's metrics",
        ".crossValidation.metric",
    ),
    Rule(
        "!has(self.search) || !has(self.search.metric)\n|| "
        + _per_task("self.search.metric", METRICS),
        "search.metric must be one of the task's metrics",
        ".search.metric",
    ),
    Rule(
        "!has(self.crossValidation) || self.crossValidation.strategy != 'leaveOneOut' || "
        "(self.task != 'clustering' && (!has(self.crossValidation.metric) || "
        f"self.crossValidation.metric in {_cel_list(sorted(SINGLE_ROW_METRICS))}))",
        "leave-one-out scores one row per fold: use accuracy (classification), mse or mae "
        "(regression), or kfold",
        ".crossValidation.metric",
    ),
    Rule(
        "!has(self.search) || has(self.crossValidation) || "
        "(has(self.split) && self.split.validation > 0.0)",
        "a search needs crossValidation or a validation part (split.validation > 0) to compare "
        "candidates on",
        ".search",
    ),
    Rule(
        "!has(self.search) || !has(self.crossValidation) || "
        "self.crossValidation.strategy != 'leaveOneOut'",
        "searching with leave-one-out is too slow; use kfold cross-validation",
        ".search",
    ),
)


class TrainingData(ApiModel):
    """The rows to learn from: a dataset that ships with scikit-learn, or a CSV or Parquet file
    on a PersistentVolumeClaim. Features must be numeric."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "has(self.dataset) != has(self.path)",
                    "give either data.dataset (a bundled dataset) or data.path (a file), not both",
                ),
                Rule(
                    "has(self.path) == has(self.claimName)",
                    "data.path and data.claimName go together (the file and the claim holding it)",
                ),
                Rule(
                    "!has(self.dataset) || !has(self.format)",
                    "data.format describes a file (data.path), not a bundled dataset",
                    ".format",
                ),
                Rule(
                    f"!has(self.dataset) || !has(self.target) || self.target == '{BUNDLED_TARGET}'",
                    f"the target of a bundled dataset is its '{BUNDLED_TARGET}' column",
                    ".target",
                ),
                Rule(
                    "!has(self.path) || has(self.format) || "
                    "self.path.matches('(?i)[.](csv|parquet|pq)$')",
                    "the file's format cannot be told from its name; set data.format to csv or "
                    "parquet",
                    ".format",
                ),
            ]
        )
    )

    dataset: Literal[tuple(BUNDLED_DATASETS)] | None = Field(  # type: ignore[valid-type]
        default=None,
        description="A dataset bundled with scikit-learn: iris, wine, breast_cancer, digits "
        '(classification) or diabetes (regression). Its target column is "target".',
    )
    claim_name: str | None = Field(
        default=None,
        description="PersistentVolumeClaim holding the data file; mounted read-only into the "
        "training Job.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )
    path: str | None = Field(
        default=None,
        description="Path of the CSV or Parquet file inside the claim, for example "
        "churn/2024-06.csv.",
        min_length=1,
        max_length=1024,
        pattern="^[^/]",
        json_schema_extra=kube(
            rules=[
                Rule(
                    f"!self.matches('{PARENT_SEGMENT_CEL}')",
                    "data.path must stay inside the volume (no '..' segments)",
                )
            ]
        ),
    )
    format: Literal["csv", "parquet"] | None = Field(
        default=None,
        description="File format, csv or parquet; by default taken from the file name (.csv, "
        ".parquet, .pq).",
    )
    target: str | None = Field(
        default=None,
        description="Column to predict (class labels or numbers). Required for classification "
        "and regression files; ignored by clustering.",
        min_length=1,
        max_length=256,
    )
    features: (
        list[Annotated[str, Field(description="Name of a numeric column.", max_length=256)]] | None
    ) = Field(
        default=None,
        description="Feature columns to use; by default every column but the target.",
        min_length=1,
        max_length=10000,
        json_schema_extra=kube(list_type="set"),
    )

    @field_validator("path")
    @classmethod
    def _relative_inside_volume(cls, path: str | None) -> str | None:
        if path is not None and (path.startswith("/") or _PARENT.search(path)):
            raise ValueError(f"{path!r} must be a path relative inside the volume, without '..'")
        return path

    @field_validator("features")
    @classmethod
    def _unique(cls, features: list[str] | None) -> list[str] | None:
        if features is not None and len(set(features)) != len(features):
            raise ValueError("feature names must be unique")
        return features

    @model_validator(mode="after")
    def _one_source(self) -> TrainingData:
        if (self.dataset is None) == (self.path is None):
            raise ValueError("give either dataset (a bundled dataset) or path (a file), not both")
        if (self.path is None) != (self.claim_name is None):
            raise ValueError("path and claimName go together (the file and the claim holding it)")
        if self.dataset is not None and self.format:
            raise ValueError("format belongs to a file (path), not to a dataset")
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


class TrainingStep(ApiModel):
    """An allow-listed scikit-learn class and its parameters."""

    class_name: str
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def short_name(self) -> str:
        """The class name without its module, e.g. LogisticRegression."""
        return self.class_name.rsplit(".", 1)[-1]


class EstimatorStep(TrainingStep):
    """The scikit-learn estimator to fit: an allow-listed class path and its parameters, for
    example regularisation (C, alpha, penalty, l1_ratio) or an SGD model's learning_rate and
    eta0."""

    # Open in Python, closed in the CRD: training_problems says which task allows what.
    class_name: str = Field(
        description="Full class path of an allow-listed estimator, for example "
        "sklearn.linear_model.LogisticRegression. docs/training.md lists them per task.",
        json_schema_extra=kube(enum=ALL_ESTIMATORS),
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Constructor parameters of the estimator, for example {C: 0.5, "
        "max_iter: 500}. random_state defaults to split.seed.",
        max_length=64,
        # Defaulted by the API server too, so the spec it keeps is the one the operator
        # hands to the trainer and writes into a retrained Model.
        json_schema_extra=kube(default={}),
    )


class PreprocessingStep(TrainingStep):
    """One preprocessing step."""

    class_name: str = Field(
        description="Full class path of an allow-listed transformer, for example "
        "sklearn.preprocessing.StandardScaler.",
        json_schema_extra=kube(enum=PREPROCESSORS),
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Constructor parameters of the transformer.",
        max_length=64,
        json_schema_extra=kube(default={}),
    )


class TrainingSplit(ApiModel):
    """How rows are divided, seeded: the model is fitted on the train part, checked on the
    validation part, and its metrics and gate use the test part only."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "self.train + self.validation + self.test > "
                    f"{1 - FRACTION_TOLERANCE!r} && self.train + self.validation + self.test < "
                    f"{1 + FRACTION_TOLERANCE!r}",
                    "split.train + split.validation + split.test must add up to 1",
                )
            ]
        )
    )

    train: float = Field(default=0.7, description="Fraction of rows to fit on.", gt=0, lt=1)
    validation: float = Field(
        default=0.15,
        description="Fraction of rows held out for validation metrics (and for a search "
        "without cross-validation); may be 0.",
        ge=0,
        lt=1,
    )
    test: float = Field(
        default=0.15,
        description="Fraction of rows held out for the metrics and the gate.",
        gt=0,
        lt=1,
    )
    seed: int = Field(
        default=42,
        description="Seed of the split, the folds, the search and the estimator's random_state; "
        "the same seed gives the same metrics.",
        ge=0,
        le=2**32 - 1,
    )
    stratify: bool = Field(
        default=True,
        description="Keep class proportions equal across the parts (classification only).",
    )

    @model_validator(mode="after")
    def _adds_up(self) -> TrainingSplit:
        total = self.train + self.validation + self.test
        if not math.isclose(total, 1.0, abs_tol=FRACTION_TOLERANCE):
            raise ValueError(f"train + validation + test must add up to 1, got {total:g}")
        return self


_METRIC_ENUM = kube(enum=ALL_METRICS)


class CrossValidation(ApiModel):
    """Cross-validation on the train part; its per-fold scores are reported next to the test
    metrics."""

    strategy: Literal["kfold", "leaveOneOut"] = Field(
        default="kfold",
        description='"kfold" (stratified for classification) or "leaveOneOut" (one fold per '
        "row, for small data: at most 1000 training rows).",
    )
    folds: int = Field(default=5, description="Number of folds for kfold.", ge=2, le=50)
    metric: str | None = Field(
        default=None,
        description="Metric scored per fold; default accuracy (classification), r2 (regression, "
        "mse under leave-one-out) or silhouette (clustering).",
        json_schema_extra=_METRIC_ENUM,
    )


CandidateValue = Annotated[
    Any, Field(description="One candidate value (a number, string, boolean or null).")
]


class HyperparameterSearch(ApiModel):
    """Hyper-parameter search over estimator parameters, compared by cross-validation (or on the
    validation part without it); the winner is refitted on the train part."""

    method: Literal["grid", "random"] = Field(
        default="grid",
        description='"grid" tries every combination (at most 1000), "random" samples '
        "iterations of them.",
    )
    parameters: dict[
        str,
        Annotated[
            list[CandidateValue],
            Field(description="Candidate values of one parameter.", min_length=1, max_length=100),
        ],
    ] = Field(
        description="Values to try per estimator parameter, for example {C: [0.1, 1, 10]}.",
        min_length=1,
        max_length=32,
    )
    iterations: int = Field(
        default=10, description="Candidates a random search tries.", ge=1, le=1000
    )
    metric: str | None = Field(
        default=None,
        description="Metric that picks the winner; default as for crossValidation.metric.",
        json_schema_extra=_METRIC_ENUM,
    )

    @property
    def grid_size(self) -> int:
        """How many parameter combinations the grid holds."""
        return math.prod(len(values) for values in self.parameters.values())


class TrainingResources(ApiModel):
    """CPU and memory requests and limits of the training container (as in a Pod spec)."""

    requests: dict[str, Quantity] | None = Field(
        default=None,
        description="Resources reserved for the training pod, for example {cpu: '1', memory: 1Gi}.",
        max_length=8,
    )
    limits: dict[str, Quantity] | None = Field(
        default=None,
        description="Most the training pod may use, for example {memory: 2Gi}.",
        max_length=8,
    )


class TrainingSpec(ApiModel):
    """How the trainer produces a Model's artifact; passed to it as JSON unchanged."""

    model_config = ConfigDict(json_schema_extra=kube(rules=TRAINING_RULES))

    task: Literal["classification", "regression", "clustering"] = Field(
        description='What the model learns: "classification" (class labels), "regression" '
        '(numbers) or "clustering" (groups, no target).'
    )
    data: TrainingData
    estimator: EstimatorStep
    preprocessing: list[PreprocessingStep] = Field(
        default_factory=list,
        description="Steps applied before the estimator, in order (a scikit-learn Pipeline "
        "saved as one artifact), for example a StandardScaler.",
        max_length=16,
    )
    split: TrainingSplit = Field(
        default_factory=TrainingSplit,
        json_schema_extra=kube(default=TrainingSplit().model_dump(by_alias=True)),
    )
    cross_validation: CrossValidation | None = None
    search: HyperparameterSearch | None = None
    metrics: (
        list[Annotated[str, Field(description="One metric name.", json_schema_extra=_METRIC_ENUM)]]
        | None
    ) = Field(
        default=None,
        description="Metrics to compute on the test part; default all of the task's: "
        "accuracy, precision, recall, f1, roc_auc (classification), mse, mae, r2 "
        "(regression), silhouette (clustering).",
        min_length=1,
        max_length=8,
        json_schema_extra=kube(list_type="set"),
    )
    gate: str | None = Field(
        default=None,
        description="Condition on the test metrics the model must meet to be served, for example "
        '"accuracy >= 0.88" or "r2 > 0.4 and mae < 50": clauses of metric, operator (>=, >, <=, '
        '<, ==) and number joined by "and". A failed gate writes no artifact and the Model never '
        "becomes Ready.",
        max_length=512,
        json_schema_extra=kube(
            rules=[
                Rule(
                    f"self.matches('{GATE_PATTERN}')",
                    "gate must be clauses of '<metric> <operator> <number>' joined by ' and ', "
                    "for example accuracy >= 0.88",
                )
            ]
        ),
    )
    resources: TrainingResources | None = None
    timeout_seconds: int = Field(
        default=3600,
        description="Longest the training Job may run before it is stopped and the Model fails.",
        ge=60,
        le=604800,
    )

    @field_validator("gate")
    @classmethod
    def _gate_grammar(cls, gate: str | None) -> str | None:
        if gate is not None:
            parse_gate(gate)
        return gate

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> TrainingSpec:
        if not (info.context or {}).get(_LIST_PROBLEMS):
            problems = training_problems(self)
            if problems:
                raise ValueError("; ".join(f"{path}: {message}" for path, message in problems))
        return self

    @property
    def metric_names(self) -> list[str]:
        """Metrics to compute on the test part: those asked for plus any the gate needs."""
        names = list(self.metrics or METRICS[self.task])
        if self.gate:
            names += [m for m in parse_gate(self.gate).metrics if m not in names]
        return names


def _metric_problem(path: str, name: str, task: str) -> tuple[str, str]:
    return path, f"{name!r} is not a {task} metric; use {', '.join(METRICS[task])}"


def training_problems(spec: TrainingSpec) -> list[tuple[str, str]]:
    """What the CRD's CEL rules (and the grid limit) refuse in a spec, as (field path, why)."""
    problems: list[tuple[str, str]] = []
    task = spec.task
    allowed = METRICS[task]
    estimator_task = ESTIMATOR_TASK.get(spec.estimator.class_name)
    if estimator_task is None:
        problems.append(
            (
                "estimator.className",
                f"{spec.estimator.class_name!r} is not allow-listed; {task} allows "
                + ", ".join(_ESTIMATORS_BY_TASK[task]),
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
            problems.append(_metric_problem(f"metrics[{index}]", name, task))
    if spec.gate is not None:
        problems += [
            _metric_problem("gate", name, task)
            for name in parse_gate(spec.gate).metrics
            if name not in allowed
        ]
    for path, part in (("crossValidation", spec.cross_validation), ("search", spec.search)):
        if part is not None and part.metric is not None and part.metric not in allowed:
            problems.append(_metric_problem(f"{path}.metric", part.metric, task))
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


def parse_training_spec(
    document: Mapping[str, Any] | str, *, unknown: Literal["ignore", "forbid"] = "forbid"
) -> TrainingSpec:
    """Validate a training spec (a mapping or JSON text); SpecError lists every problem by path.

    ``unknown="forbid"`` is the trainer's rule (see the module docstring).
    """
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as error:
            raise SpecError(
                "training spec", [("", f"the spec is not valid JSON: {error}")]
            ) from None
    if not isinstance(document, Mapping):
        raise SpecError("training spec", [("", "the spec must be a JSON object")])
    problems: list[tuple[str, str]] = []
    if unknown == "forbid":
        problems += [
            (path, "Extra inputs are not permitted")
            for path in unknown_fields(TrainingSpec, document)
        ]
    try:
        spec = TrainingSpec.model_validate(document, context={_LIST_PROBLEMS: True})
    except ValidationError as error:
        raise SpecError("training spec", problems + validation_problems(error)) from None
    problems += training_problems(spec)
    if problems:
        raise SpecError("training spec", problems)
    return spec


class TrainingGate(ApiModel):
    """How the gate fared on the test metrics."""

    expression: str = Field(description="The gate as written in spec.training.gate.")
    passed: bool = Field(description="Whether every clause held.")


class TrainingCrossValidation(ApiModel):
    """Cross-validation scores of the trained configuration on the train part."""

    strategy: str | None = Field(default=None, description="kfold or leaveOneOut.")
    metric: str | None = Field(default=None, description="Metric scored per fold.")
    folds: int | None = Field(default=None, description="Number of folds.")
    mean: float | None = Field(default=None, description="Mean score over the folds.")
    std: float | None = Field(default=None, description="Standard deviation of the fold scores.")
    scores: list[Annotated[float, Field(description="Score of one fold.")]] | None = Field(
        default=None,
        description="Score of each fold (left out under leave-one-out when too many).",
    )


class TrainingStatus(ApiModel):
    """What the training Job reported, when spec.training is set."""

    job_name: str | None = Field(default=None, description="Name of the training Job.")
    result: Literal["Running", "Succeeded", "GateFailed", "Failed"] | None = Field(
        default=None,
        description="Running, Succeeded (artifact written), GateFailed (no artifact) or Failed.",
    )
    message: str | None = Field(
        default=None,
        description="What the trainer said about the run, for example the gate's verdict.",
        max_length=4096,
    )
    artifact_sha256: str | None = Field(
        default=None,
        description="SHA-256 of the artifact the trainer wrote; scoring pods verify the file "
        "against it.",
        pattern=r"^[0-9a-f]{64}$",
    )
    split_sizes: dict[str, Annotated[int, Field(description="Number of rows.")]] | None = Field(
        default=None, description="Rows in the train, validation and test parts."
    )
    validation_metrics: (
        dict[str, Annotated[float, Field(description="Value of the metric.")]] | None
    ) = Field(
        default=None,
        description="Metrics on the validation part (status.metrics holds the test part's).",
    )
    cross_validation: TrainingCrossValidation | None = None
    best_params: dict[str, Any] | None = Field(
        default=None, description="Parameters the search picked."
    )
    gate: TrainingGate | None = None
    completion_time: str | None = Field(
        default=None,
        description="When the training Job finished.",
        json_schema_extra=kube(format="date-time"),
    )


class ReportArtifact(ApiModel):
    """The artifact a training run wrote."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int | None = Field(default=None, ge=0)


class ReportSearch(ApiModel):
    """What the hyper-parameter search picked."""

    best_params: dict[str, Any] | None = None


class TrainerReport(ApiModel):
    """The JSON `modelserve-scoring train` leaves as its container's termination message."""

    result: Literal["succeeded", "gateFailed", "failed"]
    message: str = ""
    artifact: ReportArtifact | None = None
    metrics: dict[str, float] | None = None
    validation_metrics: dict[str, float] | None = None
    split_sizes: dict[str, int] | None = None
    cross_validation: TrainingCrossValidation | None = None
    search: ReportSearch | None = None
    gate: TrainingGate | None = None
    classes: list[str] | None = None
    n_features: int | None = Field(default=None, ge=0)
    library_versions: dict[str, str] | None = None
