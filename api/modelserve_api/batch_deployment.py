"""Typed spec and status of the BatchDeployment kind (scoring files with a model)."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator

from .common import (
    DNS_SUBDOMAIN,
    LABEL_VALUE,
    PARENT_SEGMENT,
    PARENT_SEGMENT_CEL,
    ApiModel,
    Condition,
    ModelReference,
    ObjectMeta,
    ScoringScript,
    conditions_field,
    object_fields,
    observed_generation_field,
    parse_or_raise,
)
from .markers import AGE_COLUMN, READY_COLUMN_PATH, CustomResource, PrinterColumn, Rule, kube

_PARENT = re.compile(PARENT_SEGMENT)
# Job names ("<name>-<run id>") must fit 63 characters.
MAX_BATCH_DEPLOYMENT_NAME = 52
MAX_RUNS = 20


class BatchModelReference(ModelReference):
    """Which registered Model scores the files."""

    version: str = Field(
        default="latest",
        description='The Model\'s spec.version, or "latest" for the highest version whose Model '
        "is Ready (resolved when a run starts).",
        min_length=1,
        max_length=63,
        pattern=LABEL_VALUE,
    )


class BatchScoringScript(ScoringScript):
    """A Python scoring script with init() and run(mini_batch) functions, where mini_batch is a
    list of file paths; kept in a ConfigMap."""

    config_map: str = Field(
        description="Name of the ConfigMap in the same namespace.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )


class BatchInput(ApiModel):
    """The files to score."""

    claim_name: str = Field(
        description="PersistentVolumeClaim holding the input files (mounted read-only).",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )
    glob: str = Field(
        default="**/*.csv",
        description="Glob of the input files relative to the volume root, for example "
        '"data/*.csv".',
        min_length=1,
        max_length=1024,
        json_schema_extra=kube(
            rules=[
                Rule(
                    f"!self.startsWith('/') && !self.matches('{PARENT_SEGMENT_CEL}')",
                    "input.glob must be relative to the volume root, without '..'",
                )
            ]
        ),
    )


class BatchOutput(ApiModel):
    """Where the predictions go."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    "!has(self.path) || (!self.path.startsWith('/') && "
                    f"!self.path.matches('{PARENT_SEGMENT_CEL}'))",
                    "output.path must be relative inside the volume (no leading '/', no '..')",
                    ".path",
                )
            ]
        )
    )

    claim_name: str = Field(
        description="PersistentVolumeClaim the results are written to.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )
    path: str = Field(
        default="predictions",
        description="Directory inside the volume, relative to its root; each run writes to "
        "<path>/<run id>/.",
        max_length=1024,
    )
    file_name: str = Field(
        default="predictions.csv",
        description="Name of the merged output file.",
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9_][-._A-Za-z0-9]*$",
    )
    action: Literal["appendRow", "summaryOnly"] = Field(
        default="appendRow",
        description='"appendRow": write every prediction, one row per input row, into the output '
        'file; "summaryOnly": only count and report, no per-row output.',
    )

    @field_validator("path")
    @classmethod
    def _relative_inside_volume(cls, path: str) -> str:
        if path.startswith("/") or _PARENT.search(path):
            raise ValueError("output.path must be relative inside the volume (no '/', no '..')")
        return path


class BatchSettings(ApiModel):
    """How the work is split, retried and judged."""

    mini_batch_size: int = Field(
        default=10,
        description="Files per mini-batch, the unit of work that is retried.",
        ge=1,
        le=100000,
    )
    instance_count: int = Field(
        default=1, description="Pods working in parallel (indexes of the Job).", ge=1, le=100
    )
    max_concurrency_per_instance: int = Field(
        default=1, description="Mini-batches each pod scores at once.", ge=1, le=64
    )
    max_retries: int = Field(
        default=3, description="Times a failed mini-batch is tried again.", ge=0, le=100
    )
    retry_timeout_seconds: int = Field(
        default=300,
        description="Time one mini-batch may take before it counts as failed, in seconds.",
        ge=1,
        le=86400,
    )
    error_threshold: int = Field(
        default=-1,
        description="Failed files tolerated before the run is aborted; -1 tolerates any number "
        "(the run then reports the failures).",
        ge=-1,
    )
    logging_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level of the runner."
    )


class BatchDeploymentSpec(ApiModel):
    """What to score, with which model, where the results go and how the work is split."""

    model: BatchModelReference
    scoring_script: BatchScoringScript | None = None
    input: BatchInput
    output: BatchOutput
    settings: BatchSettings = Field(
        default_factory=BatchSettings, json_schema_extra=kube(default={})
    )
    schedule: str | None = Field(
        default=None,
        description='Cron schedule of recurring runs in the CronJob format, for example "0 2 * * '
        '*" or "@daily"; without it the deployment runs on create and change only.',
        max_length=128,
        pattern=r"^(@(yearly|annually|monthly|weekly|daily|hourly)|(\S+\s+){4}\S+)$",
    )


class BatchRun(ApiModel):
    """One run over the input files."""

    id: str = Field(description="Identifier of the run; also the output sub-directory.")
    files: int | None = Field(default=None, description="Input files the run found.")
    mini_batches_succeeded: int | None = Field(default=None, description="Mini-batches scored.")
    mini_batches_failed: int | None = Field(
        default=None, description="Mini-batches that failed after all retries."
    )
    rows_scored: int | None = Field(
        default=None, description="Rows predicted.", json_schema_extra=kube(format="int64")
    )
    output_path: str | None = Field(
        default=None, description="Path of the merged output inside the output volume."
    )
    start_time: str | None = Field(
        default=None,
        description="When the run started.",
        json_schema_extra=kube(format="date-time"),
    )
    end_time: str | None = Field(
        default=None, description="When the run ended.", json_schema_extra=kube(format="date-time")
    )
    result: Literal["Running", "Succeeded", "Failed"] | None = Field(
        default=None, description="Running, Succeeded or Failed."
    )


class BatchDeploymentStatus(ApiModel):
    """What the operator observed about the runs."""

    observed_generation: int | None = observed_generation_field()
    conditions: list[Condition] = conditions_field(
        "Current state as metav1.Conditions: Ready, Progressing and Degraded, plus Reconciling "
        "and Stalled for kstatus-based tools."
    )
    runs: list[BatchRun] = Field(
        default_factory=list, description="The most recent runs, oldest first.", max_length=MAX_RUNS
    )


class BatchDeployment(ApiModel):
    """BatchDeployment scores a set of files on a volume with a registered model and writes the
    predictions to another volume, once or on a schedule. A run starts on create, on a spec
    change, when the annotation modelserve.io/run is set to a new id, or on schedule."""

    model_config = ConfigDict(
        json_schema_extra=kube(
            rules=[
                Rule(
                    f"self.metadata.name.size() <= {MAX_BATCH_DEPLOYMENT_NAME}",
                    "metadata.name is too long; BatchDeployment names may have at most "
                    f"{MAX_BATCH_DEPLOYMENT_NAME} characters, so that Job names fit",
                )
            ]
        )
    )
    crd: ClassVar[CustomResource] = CustomResource(
        plural="batchdeployments",
        short_names=("bd",),
        printer_columns=(
            PrinterColumn(
                "Ready",
                READY_COLUMN_PATH,
                description="Whether the last run finished successfully.",
            ),
            PrinterColumn(
                "Model", ".spec.model.name", description="Name of the model used for scoring."
            ),
            PrinterColumn("Version", ".spec.model.version", description="Model version asked for."),
            PrinterColumn(
                "Schedule", ".spec.schedule", description="Cron schedule of the runs, if any."
            ),
            PrinterColumn(
                "Last Run", ".status.runs[-1:].result", description="Result of the most recent run."
            ),
            AGE_COLUMN,
        ),
    )

    metadata: ObjectMeta
    spec: BatchDeploymentSpec
    status: BatchDeploymentStatus = Field(default_factory=BatchDeploymentStatus)


def parse_batch_deployment(body: dict[str, Any]) -> BatchDeployment:
    """Validate a BatchDeployment object (as received from the API server or Kopf)."""
    return parse_or_raise(BatchDeployment, "BatchDeployment", object_fields(body))
