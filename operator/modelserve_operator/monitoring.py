"""Pure decisions of endpoint monitoring: verdicts, conditions, the next version, promotion steps.

No I/O here: reconcilers/monitoring.py reads the scoring pods' ``GET /monitoring`` and
the objects, asks these functions what to conclude, and writes the result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from modelserve_api import conditions as cond
from modelserve_api.monitoring import DriftSettings, PerformanceSettings
from modelserve_api.monitoring_report import CallCounters, MonitoringReport, RollingPerformance

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


def calls_since(
    before: Mapping[str, Mapping[str, int]], now: Mapping[str, Mapping[str, int]]
) -> CallCounters:
    """Calls answered since `before` was read, summed over pods (each pod counts from its start).

    Both map a pod to its GET /monitoring/requests counters. A pod missing from `before`, or
    whose counters went down (it restarted), counts in full: everything it answered came after.
    """
    answered = errors = 0
    for pod, raw in now.items():
        counts = CallCounters.model_validate(raw)
        base = CallCounters.model_validate(before.get(pod) or {})
        if counts.answered < base.answered or counts.server_errors < base.server_errors:
            base = CallCounters()
        answered += counts.answered - base.answered
        errors += counts.server_errors - base.server_errors
    return CallCounters(answered=answered, server_errors=errors)


@dataclass(frozen=True)
class PromotionView:
    """What automatic promotion needs to know to take its next step."""

    old: str
    new: str
    traffic: Mapping[str, int]  # spec.traffic now
    deployments: Sequence[str]  # names in spec.deployments now
    applied_percent: int  # what the operator last gave the new deployment
    new_ready: bool
    clean_for_s: float  # Ready without a break since the last step, in seconds
    interval_s: float
    steps: Sequence[int]
    # The new deployment's calls since the last step (None: its pods could not be read).
    served: CallCounters | None = None


@dataclass(frozen=True)
class PromotionDecision:
    """What to do now: wait, set traffic, remove the old deployment, or stop."""

    action: Literal[
        "wait", "set_traffic", "adopt", "roll_back", "remove_old", "done", "rolled_back"
    ]
    message: str
    traffic: dict[str, int] | None = None
    percent: int | None = None


def promotion_step(view: PromotionView) -> PromotionDecision:
    """The next step of automatic promotion.

    Steps are shares of the traffic the old and new deployments hold together (other
    deployments keep theirs). A step is taken only when the new deployment has been
    Ready for a whole interval since the last one; the old deployment is removed one
    interval after the last step. Traffic found below what the operator set means a
    human rolled back: promotion stops there.
    """
    if view.new not in view.deployments:
        return PromotionDecision("rolled_back", f"deployment {view.new} was removed from the spec")
    current = view.traffic.get(view.new, 0)
    if current < view.applied_percent:
        return PromotionDecision(
            "rolled_back",
            f"traffic of {view.new} was set back to {current}% (the operator had set "
            f"{view.applied_percent}%); promotion stopped",
        )
    if view.old not in view.deployments:
        return PromotionDecision("done", f"{view.new} serves; {view.old} was removed")
    pool = view.traffic.get(view.old, 0) + current
    if pool == 0:
        return PromotionDecision(
            "rolled_back", f"neither {view.old} nor {view.new} takes traffic; promotion stopped"
        )
    served = view.served
    if served is not None and served.server_errors:
        return PromotionDecision(
            "roll_back",
            f"{view.new} answered {served.server_errors} of {served.answered} call(s) since "
            f"the last step with a server error (5xx); traffic back to {view.old}",
            {**view.traffic, view.old: pool, view.new: 0},
            0,
        )
    if current > view.applied_percent:
        # A step that reached the spec but not the status (the operator stopped between
        # the two writes, or a human moved traffic on): count it as taken now, so the
        # next step still waits a whole clean interval after it.
        return PromotionDecision(
            "adopt",
            f"{view.new} holds {current}% of traffic, more than the {view.applied_percent}% "
            "recorded; counting that step from now",
            percent=current,
        )
    if not view.new_ready:
        return PromotionDecision("wait", f"waiting for deployment {view.new} to be Ready")
    if current > 0 and served is None:
        return PromotionDecision("wait", f"cannot read the calls {view.new} answered yet")
    if current > 0 and not served.answered:
        return PromotionDecision(
            "wait", f"{view.new} has answered no call since the last step; a step needs some"
        )
    if view.clean_for_s < view.interval_s:
        return PromotionDecision(
            "wait",
            f"{view.new} has been Ready for {view.clean_for_s:.0f}s of the "
            f"{view.interval_s:.0f}s a step needs",
        )
    for step in view.steps:
        share = round(pool * step / 100)
        if share > current:
            traffic = {**view.traffic, view.new: share, view.old: pool - share}
            return PromotionDecision(
                "set_traffic", f"moving {share}% of traffic to {view.new}", traffic, share
            )
    return PromotionDecision(
        "remove_old", f"{view.new} held all of {view.old}'s traffic; removing {view.old}"
    )
