"""Typed `Model.spec.training` (what the training Job runs) and `Model.status.training`."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .common import ApiModel, Resources

# The gate grammar the CRD's CEL rule and the trainer's parser share: clauses of
# <metric> <operator> <number> joined by " and ", spaces only.
_GATE_CLAUSE = "[a-z][a-z0-9_]*[ ]*(>=|<=|==|>|<)[ ]*-?([0-9]+([.][0-9]*)?|[.][0-9]+)"
GATE_PATTERN = f"^[ ]*{_GATE_CLAUSE}([ ]+and[ ]+{_GATE_CLAUSE})*[ ]*$"
BUNDLED_DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")
_PARENT_SEGMENT = re.compile(r"(^|/)\.\.(/|$)")
FRACTION_TOLERANCE = 1e-6


class TrainingData(ApiModel):
    """A bundled dataset, or a CSV/Parquet file on a claim; and the target column."""

    dataset: Literal["iris", "wine", "breast_cancer", "digits", "diabetes"] | None = None
    claim_name: str | None = Field(default=None, min_length=1, max_length=253)
    path: str | None = Field(default=None, min_length=1, max_length=1024)
    format: Literal["csv", "parquet"] | None = None
    target: str | None = Field(default=None, min_length=1, max_length=256)
    features: list[str] | None = None

    @field_validator("path")
    @classmethod
    def _relative_inside_volume(cls, path: str | None) -> str | None:
        if path is not None and (path.startswith("/") or _PARENT_SEGMENT.search(path)):
            raise ValueError("data.path must be relative inside the volume, without '..'")
        return path

    @model_validator(mode="after")
    def _one_source(self) -> TrainingData:
        if (self.dataset is None) == (self.path is None):
            raise ValueError("give either data.dataset or data.path (with data.claimName)")
        if (self.path is None) != (self.claim_name is None):
            raise ValueError("data.path and data.claimName go together")
        return self


class TrainingStep(ApiModel):
    """An allow-listed scikit-learn class and its parameters."""

    class_name: str = Field(min_length=1, max_length=256)
    params: dict[str, Any] | None = None


class TrainingSplit(ApiModel):
    """Train/validation/test fractions and the seed."""

    train: float = Field(default=0.7, gt=0, lt=1)
    validation: float = Field(default=0.15, ge=0, lt=1)
    test: float = Field(default=0.15, gt=0, lt=1)
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    stratify: bool = True

    @model_validator(mode="after")
    def _adds_up(self) -> TrainingSplit:
        total = self.train + self.validation + self.test
        if not math.isclose(total, 1.0, abs_tol=FRACTION_TOLERANCE):
            raise ValueError(f"split train + validation + test must add up to 1, got {total:g}")
        return self


class CrossValidation(ApiModel):
    """k-fold or leave-one-out cross-validation on the training part."""

    strategy: Literal["kfold", "leaveOneOut"] = "kfold"
    folds: int = Field(default=5, ge=2, le=50)
    metric: str | None = None


class HyperparameterSearch(ApiModel):
    """Grid or random search over estimator parameters."""

    method: Literal["grid", "random"] = "grid"
    parameters: dict[str, list[Any]]
    iterations: int = Field(default=10, ge=1, le=1000)
    metric: str | None = None


class TrainingSpec(ApiModel):
    """How the trainer produces the Model's artifact; passed to it as JSON unchanged."""

    task: Literal["classification", "regression", "clustering"]
    data: TrainingData
    estimator: TrainingStep
    preprocessing: list[TrainingStep] | None = None
    split: TrainingSplit = Field(default_factory=TrainingSplit)
    cross_validation: CrossValidation | None = None
    search: HyperparameterSearch | None = None
    metrics: list[str] | None = None
    gate: str | None = Field(default=None, max_length=512, pattern=GATE_PATTERN)
    resources: Resources | None = None
    timeout_seconds: int = Field(default=3600, ge=60, le=604800)

    @model_validator(mode="after")
    def _target_for_supervised(self) -> TrainingSpec:
        if self.task != "clustering" and self.data.dataset is None and self.data.target is None:
            raise ValueError(f"data.target is required for a {self.task} task")
        return self


class TrainingGate(ApiModel):
    """How the gate fared."""

    expression: str
    passed: bool


class TrainingCrossValidation(ApiModel):
    """Cross-validation scores of the trained configuration."""

    strategy: str | None = None
    metric: str | None = None
    folds: int | None = None
    mean: float | None = None
    std: float | None = None
    scores: list[float] | None = None


class TrainingStatus(ApiModel):
    """What the training Job reported: digest, split sizes, CV scores and the gate."""

    job_name: str | None = None
    result: Literal["Running", "Succeeded", "GateFailed", "Failed"] | None = None
    message: str | None = None
    artifact_sha256: str | None = None
    split_sizes: dict[str, int] | None = None
    validation_metrics: dict[str, float] | None = None
    cross_validation: TrainingCrossValidation | None = None
    best_params: dict[str, Any] | None = None
    gate: TrainingGate | None = None
    completion_time: str | None = None
