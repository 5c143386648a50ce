"""Pure decisions of endpoint monitoring: verdicts, conditions, the next version.

No I/O here: reconcilers/monitoring.py reads the scoring pods' ``GET /monitoring`` and
the objects, asks these functions what to conclude, and writes the result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelserve_api import conditions as cond
from modelserve_api.monitoring import DriftSettings, PerformanceSettings
from modelserve_api.monitoring_report import MonitoringReport, RollingPerformance

from .drift import DriftReport, DriftThresholds, detect_drift

DATA_DRIFT = "DataDrift"
PERFORMANCE_DEGRADED = "PerformanceDegraded"
CANDIDATE_READY = "CandidateReady"
MONITORING_CONDITIONS = (DATA_DRIFT, PERFORMANCE_DEGRADED, CANDIDATE_READY)


@dataclass(frozen=True)
class PerformanceVerdict:
    """Whether a deployment's rolling accuracy or error crossed its threshold (None: not judged)."""

    degraded: bool | None
    message: str
    feedback_rows: int = 0
    accuracy: float | None = None
    mae: float | None = None


@dataclass(frozen=True)
class DeploymentCheck:
    """What one deployment's scoring pod reported, judged."""

    deployment: str
    model_version: str | None = None
    rows: int = 0
    drift: DriftReport | None = None
    drift_note: str = ""
    performance: PerformanceVerdict = field(
        default_factory=lambda: PerformanceVerdict(None, "not checked")
    )
    error: str | None = None

    def status(self) -> dict[str, Any]:
        """The deployment's entry in status.monitoring.deployments."""
        entry: dict[str, Any] = {"name": self.deployment, "rows": self.rows}
        if self.model_version is not None:
            entry["modelVersion"] = self.model_version
        if self.error:
            entry["error"] = self.error
            return entry
        entry["feedbackRows"] = self.performance.feedback_rows
        if self.performance.accuracy is not None:
            entry["accuracy"] = round(self.performance.accuracy, 6)
        if self.performance.mae is not None:
            entry["mae"] = round(self.performance.mae, 6)
        entry["drifted"] = [f.feature for f in self.drift.drifted] if self.drift else []
        return entry


def judge_drift(report: MonitoringReport, settings: DriftSettings) -> DriftReport | None:
    """Drift verdicts per feature from a ``GET /monitoring`` report; None without a baseline."""
    if not report.baseline:
        return None
    if settings.method == "psi":
        limits = DriftThresholds(psi=settings.effective_threshold, min_live_count=settings.min_rows)
    else:
        limits = DriftThresholds(
            ks_p_value=settings.effective_threshold, min_live_count=settings.min_rows
        )
    return detect_drift(report.features, method=settings.method, thresholds=limits)


def judge_performance(
    performance: RollingPerformance, settings: PerformanceSettings
) -> PerformanceVerdict:
    """Compare the rolling accuracy (classifiers) or MAE (regressors) with its threshold."""
    rows, accuracy, mae = performance.feedback_rows, performance.accuracy, performance.mae

    def verdict(degraded: bool | None, message: str) -> PerformanceVerdict:
        return PerformanceVerdict(degraded, message, rows, accuracy, mae)

    task = performance.task
    if task == "classification":
        threshold, value, what = settings.min_accuracy, accuracy, "accuracy"
    elif task == "regression":
        threshold, value, what = settings.max_error, mae, "MAE"
    else:
        return verdict(None, f"no performance reported (task {task!r})")
    if threshold is None:
        field_name = "minAccuracy" if task == "classification" else "maxError"
        return verdict(None, f"no performance.{field_name} set for this {task} model")
    if rows < settings.min_feedback_rows or value is None:
        return verdict(
            None, f"{rows} labelled row(s), fewer than minFeedbackRows {settings.min_feedback_rows}"
        )
    if task == "classification":
        degraded = value < threshold
        relation = "below" if degraded else "at or above"
    else:
        degraded = value > threshold
        relation = "above" if degraded else "at or below"
    return verdict(
        degraded, f"rolling {what} {value:.3g} over {rows} rows, {relation} {threshold:g}"
    )


def check_deployment(
    deployment: str,
    response: Mapping[str, Any],
    drift: DriftSettings,
    performance: PerformanceSettings,
) -> DeploymentCheck:
    """Judge one deployment's ``GET /monitoring`` body (a ValidationError if it is not one)."""
    report = MonitoringReport.model_validate(response)
    verdict = judge_drift(report, drift)
    return DeploymentCheck(
        deployment=deployment,
        model_version=report.model.version,
        rows=report.rows,
        drift=verdict,
        drift_note="" if verdict is not None else "the model has no training baseline",
        performance=judge_performance(report.performance, performance),
    )


@dataclass(frozen=True)
class ConditionChange:
    """A monitoring condition that changed status in this check (worth an Event)."""

    type: str
    status: str
    reason: str
    message: str


def _drift_condition(checks: Sequence[DeploymentCheck]) -> tuple[str, str, str]:
    drifted = [c for c in checks if c.drift is not None and c.drift.has_drift]
    if drifted:
        return (
            cond.TRUE,
            "DriftDetected",
            "; ".join(f"deployment {c.deployment}: {c.drift.message()}" for c in drifted),
        )
    judged = [c for c in checks if c.drift is not None and c.drift.features]
    if judged:
        return (
            cond.FALSE,
            "NoDrift",
            "; ".join(f"deployment {c.deployment}: {c.drift.message()}" for c in judged),
        )
    why = []
    for c in checks:
        if c.error:
            why.append(f"deployment {c.deployment}: {c.error}")
        elif c.drift is None:
            why.append(f"deployment {c.deployment}: {c.drift_note}")
        else:
            why.append(f"deployment {c.deployment}: {c.drift.message()}")
    return cond.UNKNOWN, "NotJudged", "; ".join(why) or "no deployment takes traffic"


def _performance_condition(checks: Sequence[DeploymentCheck]) -> tuple[str, str, str]:
    degraded = [c for c in checks if c.performance.degraded]
    if degraded:
        reason = (
            "AccuracyBelowThreshold"
            if any(c.performance.accuracy is not None for c in degraded)
            else "ErrorAboveThreshold"
        )
        detail = "; ".join(f"deployment {c.deployment}: {c.performance.message}" for c in degraded)
        return cond.TRUE, reason, detail
    judged = [c for c in checks if c.performance.degraded is False]
    if judged:
        detail = "; ".join(f"deployment {c.deployment}: {c.performance.message}" for c in judged)
        return cond.FALSE, "WithinThreshold", detail
    why = [f"deployment {c.deployment}: {c.error or c.performance.message}" for c in checks] or [
        "no deployment takes traffic"
    ]
    return cond.UNKNOWN, "NotJudged", "; ".join(why)


def monitoring_conditions(
    conditions: list[dict[str, Any]] | None,
    checks: Sequence[DeploymentCheck],
    generation: int | None,
    now: dt.datetime,
) -> tuple[list[dict[str, Any]], list[ConditionChange]]:
    """Set DataDrift and PerformanceDegraded from the checks; the changes into or out of True.

    Ready, Progressing and Degraded are left alone: a drifting endpoint still serves.
    """
    result = list(conditions or [])
    changes: list[ConditionChange] = []
    for type_, (status, reason, message) in (
        (DATA_DRIFT, _drift_condition(checks)),
        (PERFORMANCE_DEGRADED, _performance_condition(checks)),
    ):
        before = (cond.find_condition(result, type_) or {}).get("status")
        result = cond.set_condition(result, type_, status, reason, message, generation, now)
        if before != status and cond.TRUE in (before, status):
            changes.append(ConditionChange(type_, status, reason, message))
    return result, changes


def without_monitoring_conditions(conditions: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The conditions with the monitoring ones removed (monitoring was turned off)."""
    return [c for c in conditions or [] if c.get("type") not in MONITORING_CONDITIONS]


def next_version(versions: Sequence[str]) -> str:
    """One more than the largest numeric version ("1" when there is none)."""
    numeric = [int(v) for v in versions if v.isdigit()]
    return str(max(numeric, default=0) + 1)
