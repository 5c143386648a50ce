"""Read what a training Job and its pod say: running, trained, gated out or failed, and why."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from modelserve_api import Model, TrainingStatus
from modelserve_api import conditions as cond
from modelserve_api.training import EXIT_GATE_FAILED, EXIT_MEANINGS, TrainerReport
from pydantic import ValidationError

from ..builders.training import TRAIN_CONTAINER
from .observed import pod_failure, pod_unschedulable

RUNNING, SUCCEEDED, GATE_FAILED, FAILED = "Running", "Succeeded", "GateFailed", "Failed"
# A log tail standing in for a report is cut to its end, where the error is.
MAX_DETAIL_CHARS = 600
MAX_MESSAGE_CHARS = 4096


class ReportError(ValueError):
    """The trainer's termination message is not a report the operator can use."""


@dataclass(frozen=True)
class TrainingObservation:
    """What the Model's status should say about its training: the summary and the fields."""

    summary: cond.Summary
    status: dict[str, Any] = field(default_factory=dict)


def parse_report(message: str | None) -> TrainerReport:
    """The trainer's report from a termination message; ReportError says what is wrong."""
    if not message or not message.strip():
        raise ReportError("the train container left no termination message")
    try:
        document = json.loads(message)
    except ValueError:
        raise ReportError("the termination message is not JSON (a log tail?)") from None
    if not isinstance(document, dict):
        raise ReportError("the termination message is not a JSON object")
    try:
        report = TrainerReport.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'report'}: {e['msg']}" for e in error.errors()
        )
        raise ReportError(f"the termination message is not a trainer report: {problems}") from None
    if report.result == "succeeded" and report.artifact is None:
        raise ReportError("the trainer reports success but no artifact")
    return report


def status_from_report(
    report: TrainerReport, job_name: str, result: str, completion_time: str | None
) -> dict[str, Any]:
    """Model.status fields (metrics, training, what the artifact is) from a trainer report."""
    training = TrainingStatus(
        job_name=job_name,
        result=result,
        message=report.message[:MAX_MESSAGE_CHARS] or None,
        artifact_sha256=report.artifact.sha256 if report.artifact else None,
        split_sizes=report.split_sizes,
        validation_metrics=report.validation_metrics,
        cross_validation=report.cross_validation,
        best_params=report.search.best_params if report.search else None,
        gate=report.gate,
        completion_time=completion_time,
    )
    status: dict[str, Any] = {"training": training.to_wire()}
    if report.metrics is not None:
        status["metrics"] = report.metrics
    if report.n_features is not None:
        status["nFeatures"] = report.n_features
    if report.classes is not None:
        status["classes"] = report.classes
    if report.library_versions is not None:
        status["libraryVersions"] = report.library_versions
    if report.artifact is not None and report.artifact.size_bytes is not None:
        status["sizeBytes"] = report.artifact.size_bytes
    return status


def trained_summary(model: Model, training: TrainingStatus) -> cond.Summary:
    """Ready when the trainer wrote an artifact, unless spec.artifact.sha256 says otherwise."""
    digest = training.artifact_sha256 or ""
    expected = (model.spec.artifact.sha256 or "").lower()
    if expected and expected != digest:
        return cond.failed(
            "DigestMismatch",
            f"spec.artifact.sha256 is {expected} but the trainer wrote "
            f"{model.spec.artifact.uri} with sha256 {digest}; the model will not be served",
        )
    verdict = training.message or "trained"
    return cond.ready("Trained", f"{verdict}; wrote {model.spec.artifact.uri} (sha256 {digest})")


def _newest_first(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        pods,
        key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"].get("name", "")),
        reverse=True,
    )


def _trainer_terminated(pod: dict[str, Any]) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == TRAIN_CONTAINER:
            return (status.get("state") or {}).get("terminated") or {}
    return {}


def _finished_pod(pods: list[dict[str, Any]], *, succeeded: bool) -> dict[str, Any]:
    """The train container's terminated state in the newest pod that ended this way."""
    for pod in _newest_first(pods):
        terminated = _trainer_terminated(pod)
        if terminated and (terminated.get("exitCode", 0) == 0) == succeeded:
            return terminated
    return {}


def _one_line(text: str) -> str:
    return " ".join(text.split())[-MAX_DETAIL_CHARS:]


def observe_running(job_name: str, pods: list[dict[str, Any]]) -> TrainingObservation:
    """A Job not finished yet: training, or stuck on something that will not fix itself."""
    status = {"training": {"jobName": job_name, "result": RUNNING}}
    unfinished = [
        p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]
    stuck = pod_failure(unfinished)
    if stuck:
        # An image that cannot be pulled or a container that cannot be created: the Job
        # would wait until its deadline.
        return TrainingObservation(
            cond.failed("TrainingStuck", f"training Job {job_name}: {stuck}"), status
        )
    waiting = pod_unschedulable(unfinished)
    if waiting:
        return TrainingObservation(
            cond.progressing("PodUnschedulable", f"training Job {job_name}: {waiting}"), status
        )
    return TrainingObservation(
        cond.progressing("Training", f"training Job {job_name} is running"), status
    )


def observe_training(
    model: Model,
    job: dict[str, Any],
    pods: list[dict[str, Any]],
    previous: TrainingStatus | None = None,
) -> TrainingObservation:
    """The Model's training status from its Job and the Job's pods (pure; no API calls).

    `previous` is what status already says: once pods are gone it still holds the report.
    """
    job_name = job["metadata"]["name"]
    complete = cond.true_condition(job, "Complete")
    failed = cond.true_condition(job, "Failed")
    recorded = previous if previous is not None and previous.job_name == job_name else None
    if complete:
        return _observe_complete(model, job, pods, recorded)
    if failed:
        return _observe_failed(model, job_name, failed, pods, recorded)
    return observe_running(job_name, pods)


def _observe_complete(
    model: Model, job: dict[str, Any], pods: list[dict[str, Any]], recorded: TrainingStatus | None
) -> TrainingObservation:
    job_name = job["metadata"]["name"]
    finished = (job.get("status") or {}).get("completionTime")
    terminated = _finished_pod(pods, succeeded=True)
    try:
        report = parse_report(terminated.get("message"))
    except ReportError as error:
        if recorded is not None and recorded.result == SUCCEEDED and recorded.artifact_sha256:
            # The pods were deleted after the outcome was recorded: status is the record.
            return TrainingObservation(trained_summary(model, recorded))
        where = "its pod is gone" if not terminated else str(error)
        return TrainingObservation(
            cond.failed(
                "TrainingReportMissing",
                f"training Job {job_name} completed but left no usable report ({where}); "
                "the artifact's digest is unknown, so the model cannot be served. Delete the "
                "Job to train again",
            ),
            {"training": _without_nones(jobName=job_name, result=FAILED, completionTime=finished)},
        )
    if report.result != "succeeded":
        # Exit 0 always means success; anything else is a trainer that broke its contract.
        return TrainingObservation(
            cond.failed(
                "TrainingReportInvalid",
                f"training Job {job_name} completed but reports {report.result!r}: "
                f"{report.message}",
            ),
            status_from_report(report, job_name, FAILED, finished),
        )
    status = status_from_report(report, job_name, SUCCEEDED, finished)
    training = TrainingStatus.model_validate(status["training"])
    return TrainingObservation(trained_summary(model, training), status)


def _observe_failed(
    model: Model,
    job_name: str,
    failed: dict[str, Any],
    pods: list[dict[str, Any]],
    recorded: TrainingStatus | None,
) -> TrainingObservation:
    finished = failed.get("lastTransitionTime")
    if failed.get("reason") == "DeadlineExceeded":
        timeout = model.spec.training.timeout_seconds if model.spec.training else None
        return TrainingObservation(
            cond.failed(
                "TrainingTimedOut",
                f"training Job {job_name} did not finish within spec.training.timeoutSeconds "
                f"({timeout} s) and was stopped; register a version with a longer timeout "
                "or less work (fewer search candidates or folds)",
            ),
            {"training": _without_nones(jobName=job_name, result=FAILED, completionTime=finished)},
        )
    terminated = _finished_pod(pods, succeeded=False)
    if not terminated and recorded is not None and recorded.result in (GATE_FAILED, FAILED):
        # The pods were deleted after the outcome was recorded: status is the record.
        return TrainingObservation(_recorded_failure(job_name, recorded))
    exit_code = terminated.get("exitCode")
    try:
        report: TrainerReport | None = parse_report(terminated.get("message"))
    except ReportError:
        report = None
    if (report is not None and report.result == "gateFailed") or exit_code == EXIT_GATE_FAILED:
        message = report.message if report else _one_line(terminated.get("message") or "")
        status = (
            status_from_report(report, job_name, GATE_FAILED, finished)
            if report is not None
            else {
                "training": _without_nones(
                    jobName=job_name, result=GATE_FAILED, message=message, completionTime=finished
                )
            }
        )
        return TrainingObservation(
            cond.failed("GateFailed", f"{message or 'the gate failed'}; no artifact was written"),
            status,
        )
    if terminated:
        detail = report.message if report is not None else _one_line(terminated.get("message", ""))
        meaning = EXIT_MEANINGS.get(exit_code, terminated.get("reason") or "killed")
        why = f"exit code {exit_code}, {meaning}" + (f": {detail}" if detail else "")
    else:
        why = f"{failed.get('reason')}: {failed.get('message', '')}".rstrip(": ")
    training = _without_nones(
        jobName=job_name, result=FAILED, message=why[:MAX_MESSAGE_CHARS], completionTime=finished
    )
    return TrainingObservation(
        cond.failed("TrainingFailed", f"training Job {job_name} failed ({why})"),
        {"training": training},
    )


def _without_nones(**fields: Any) -> dict[str, Any]:
    # A merge patch would read a null as "delete this field".
    return {key: value for key, value in fields.items() if value is not None}


def _recorded_failure(job_name: str, recorded: TrainingStatus) -> cond.Summary:
    if recorded.result == GATE_FAILED:
        return cond.failed(
            "GateFailed", f"{recorded.message or 'the gate failed'}; no artifact was written"
        )
    return cond.failed("TrainingFailed", f"training Job {job_name} failed ({recorded.message})")


def recorded_outcome(model: Model, recorded: TrainingStatus) -> cond.Summary | None:
    """The summary a finished training recorded in status, for when its Job is gone."""
    if recorded.result == SUCCEEDED and recorded.artifact_sha256:
        return trained_summary(model, recorded)
    return None
