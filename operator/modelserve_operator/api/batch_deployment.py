"""Typed spec and status of the BatchDeployment kind (scoring files with a model)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from .common import (
    ApiModel,
    Condition,
    ModelReference,
    ObjectMeta,
    ScoringScript,
    object_fields,
    parse_or_raise,
)

_PARENT_SEGMENT = re.compile(r"(^|/)\.\.(/|$)")


class BatchInput(ApiModel):
    """The files to score."""

    claim_name: str = Field(min_length=1, max_length=253)
    glob: str = "**/*.csv"


class BatchOutput(ApiModel):
    """Where predictions go."""

    claim_name: str = Field(min_length=1, max_length=253)
    path: str = "predictions"
    file_name: str = Field(default="predictions.csv", pattern=r"^[A-Za-z0-9_][-._A-Za-z0-9]*$")
    action: Literal["appendRow", "summaryOnly"] = "appendRow"

    @field_validator("path")
    @classmethod
    def _relative_inside_volume(cls, path: str) -> str:
        if path.startswith("/") or _PARENT_SEGMENT.search(path):
            raise ValueError("output.path must be relative inside the volume (no '/', no '..')")
        return path


class BatchSettings(ApiModel):
    """How the work is split, retried and judged."""

    mini_batch_size: int = Field(default=10, ge=1)
    instance_count: int = Field(default=1, ge=1, le=100)
    max_concurrency_per_instance: int = Field(default=1, ge=1)
    max_retries: int = Field(default=3, ge=0)
    retry_timeout_seconds: int = Field(default=300, ge=1)
    error_threshold: int = Field(default=-1, ge=-1)
    logging_level: Literal["debug", "info", "warning", "error"] = "info"


class BatchDeploymentSpec(ApiModel):
    """What to score, with which model, where results go."""

    model: ModelReference
    scoring_script: ScoringScript | None = None
    input: BatchInput
    output: BatchOutput
    settings: BatchSettings = Field(default_factory=BatchSettings)
    schedule: str | None = Field(
        default=None,
        max_length=128,
        pattern=r"^(@(yearly|annually|monthly|weekly|daily|hourly)|(\S+\s+){4}\S+)$",
    )


class BatchRun(ApiModel):
    """One run over the input files."""

    id: str
    files: int | None = None
    mini_batches_succeeded: int | None = None
    mini_batches_failed: int | None = None
    rows_scored: int | None = None
    output_path: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    result: Literal["Running", "Succeeded", "Failed"] | None = None


class BatchDeploymentStatus(ApiModel):
    """What the operator observed about the runs."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    runs: list[BatchRun] = Field(default_factory=list)


class BatchDeployment(ApiModel):
    """A BatchDeployment object as the operator sees it."""

    metadata: ObjectMeta
    spec: BatchDeploymentSpec
    status: BatchDeploymentStatus = Field(default_factory=BatchDeploymentStatus)


def parse_batch_deployment(body: dict[str, Any]) -> BatchDeployment:
    """Validate a BatchDeployment object (as received from the API server or Kopf)."""
    return parse_or_raise(BatchDeployment, "BatchDeployment", object_fields(body))
