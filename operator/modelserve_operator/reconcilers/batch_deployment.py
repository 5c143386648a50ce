"""Reconcile a BatchDeployment: start runs, merge finished ones, report the last runs."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

from modelserve_api import BatchDeployment, Model, SpecError, parse_batch_deployment, parse_model
from modelserve_api import conditions as cond
from modelserve_api import constants as c

from ..builders.batch import (
    JOB_NAME_LABEL,
    LABEL_BATCH_ROLE,
    MERGE_CONTAINER,
    ROLE_RUN,
    RUNNER_CONTAINER,
    build_cronjob,
    build_merge_job,
    build_run_job,
    merge_job_name,
    run_job_name,
    run_trigger,
)
from ..builders.common import BuilderSettings, owner_reference, with_owner
from ..builders.network_policy import build_batch_network_policy
from ..kube import Kube
from .model_resolution import ModelNotResolved, resolve_model
from .network_policies import keep_network_policy
from .observed import pod_failure, pod_unschedulable
from .status import owned_by, write_status

log = logging.getLogger(__name__)

# Runs kept in status (the CRD allows 20).
MAX_RUNS = 10
RUNNING, SUCCEEDED, FAILED = "Running", "Succeeded", "Failed"


@dataclass(frozen=True)
class BatchOutcome:
    """What one reconcile concluded."""

    status: dict[str, Any]
    summary: cond.Summary


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _terminated(pod: dict[str, Any], container: str) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            return (status.get("state") or {}).get("terminated") or {}
    return {}


def _message_json(terminated: dict[str, Any]) -> dict[str, Any] | None:
    try:
        value = json.loads(terminated.get("message") or "")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class BatchDeploymentReconciler:
    """Starts each run's Indexed Job, its merge Job after it, and keeps the run history."""

    def __init__(self, kube: Kube, settings: BuilderSettings) -> None:
        self.kube = kube
        self.settings = settings

    def reconcile(self, namespace: str, name: str) -> BatchOutcome | None:
        """Start what is asked for, observe the runs, write status; None if the object is gone."""
        body = self.kube.get(c.API_VERSION, c.KIND_BATCH_DEPLOYMENT, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        generation = body["metadata"].get("generation")
        old_status = body.get("status") or {}
        try:
            batch = parse_batch_deployment(body)
        except SpecError as error:
            status = {"observedGeneration": generation}
            return self._write_status(
                body, old_status, status, cond.failed("InvalidSpec", str(error))
            )

        runs = {run["id"]: dict(run) for run in old_status.get("runs") or [] if run.get("id")}
        jobs = {
            job["metadata"]["name"]: job
            for job in self.kube.list(
                "batch/v1", "Job", namespace, f"{c.LABEL_BATCH_DEPLOYMENT}={name}"
            )
            if owned_by(job, body["metadata"].get("uid")) or _started_by_our_cronjob(job, name)
        }
        blocker = self._apply_schedule(body, batch)
        trigger = run_trigger(batch)
        started = None
        if trigger is not None:
            run_id = run_job_name(name, trigger)
            if run_id not in runs and run_id not in jobs:
                blocker = self._start_run(body, batch, run_id, runs) or blocker
                started = run_id
        failure_messages: dict[str, str] = {}
        blocked_runs: dict[str, cond.Summary] = {}
        for run_id, run in runs.items():
            if run.get("result") == RUNNING and run_id not in jobs and run_id != started:
                # Its Job was deleted mid-run: nothing will ever finish it.
                run.update(result=FAILED, endTime=cond.format_time(_now()))
                failure_messages[run_id] = "its Job was deleted before it finished"
        for job_name, job in jobs.items():
            labels = job["metadata"].get("labels") or {}
            if labels.get(LABEL_BATCH_ROLE) != ROLE_RUN:
                continue
            run = runs.setdefault(job_name, {"id": job_name})
            merge = jobs.get(merge_job_name(job_name))
            why = self._observe_run(body, batch, job, merge, run)
            if why:
                failure_messages[job_name] = why
            elif run.get("result") == RUNNING:
                blocked = self._blocked(namespace, job_name, job, merge)
                if blocked is not None:
                    blocked_runs[job_name] = blocked

        history = run_history(runs)
        summary = self._summarize(
            batch, history, blocker, failure_messages, blocked_runs, old_status
        )
        status = {"observedGeneration": generation, "runs": history}
        return self._write_status(body, old_status, status, summary)

    # -- runs ---------------------------------------------------------------------

    def _models(self, namespace: str) -> list[Model]:
        models = []
        for item in self.kube.list(c.API_VERSION, c.KIND_MODEL, namespace):
            try:
                models.append(parse_model(item))
            except SpecError as error:
                log.warning("ignoring Model %s: %s", item["metadata"]["name"], error)
        return models

    def _apply_schedule(self, body: dict[str, Any], batch: BatchDeployment) -> cond.Summary | None:
        """Apply the CronJob when scheduled, delete it when not; a Summary if it cannot be."""
        meta = batch.metadata
        if not batch.spec.schedule:
            live = self.kube.get("batch/v1", "CronJob", meta.namespace, meta.name)
            if live is not None and owned_by(live, body["metadata"].get("uid")):
                self.kube.delete("batch/v1", "CronJob", meta.namespace, meta.name)
            return None
        try:
            model = resolve_model(batch.spec.model, self._models(meta.namespace))
        except ModelNotResolved as error:
            return cond.failed("ModelNotResolved", str(error))
        self._keep_network_policy(body, batch)
        cronjob = build_cronjob(batch, model, self.settings)
        self.kube.apply(with_owner(cronjob, owner_reference(body)))
        return None

    def _keep_network_policy(self, body: dict[str, Any], batch: BatchDeployment) -> None:
        """Batch pods accept no connection; applied before any of them can start."""
        policy = with_owner(build_batch_network_policy(batch), owner_reference(body))
        keep_network_policy(self.kube, self.settings.network, policy, body["metadata"]["uid"])

    def _start_run(
        self,
        body: dict[str, Any],
        batch: BatchDeployment,
        run_id: str,
        runs: dict[str, dict[str, Any]],
    ) -> cond.Summary | None:
        try:
            model = resolve_model(batch.spec.model, self._models(batch.metadata.namespace))
        except ModelNotResolved as error:
            return cond.failed("ModelNotResolved", str(error))
        self._keep_network_policy(body, batch)
        job = build_run_job(batch, model, run_id, self.settings)
        # Created, never applied: a Job's template is immutable and a run is started once.
        self.kube.create(with_owner(job, owner_reference(body)))
        runs[run_id] = {
            "id": run_id,
            "result": RUNNING,
            "startTime": cond.format_time(_now()),
            "outputPath": _output_path(batch, run_id),
        }
        log.info("started run %s of %s/%s", run_id, batch.metadata.namespace, batch.metadata.name)
        return None

    def _observe_run(
        self,
        body: dict[str, Any],
        batch: BatchDeployment,
        job: dict[str, Any],
        merge: dict[str, Any] | None,
        run: dict[str, Any],
    ) -> str | None:
        """Update one run's record from its Jobs; start its merge when due; return why it failed."""
        run_id = job["metadata"]["name"]
        job_status = job.get("status") or {}
        run.setdefault(
            "startTime", job_status.get("startTime") or job["metadata"].get("creationTimestamp")
        )
        failed = cond.true_condition(job, "Failed")
        if failed:
            run.update(result=FAILED, endTime=failed.get("lastTransitionTime"))
            return self._runner_failure(batch, run_id, failed)
        if not cond.true_condition(job, "Complete"):
            run["result"] = RUNNING
            return None
        if merge is None:
            manifest = build_merge_job(batch, run_id, self.settings)
            self.kube.create(with_owner(manifest, owner_reference(body)))
            run["result"] = RUNNING
            return None
        merge_failed = cond.true_condition(merge, "Failed")
        merge_done = cond.true_condition(merge, "Complete")
        if not (merge_failed or merge_done):
            run["result"] = RUNNING
            return None
        totals = self._merge_totals(batch.metadata.namespace, merge["metadata"]["name"])
        run.update(
            result=SUCCEEDED if merge_done else FAILED,
            endTime=(merge_done or merge_failed or {}).get("lastTransitionTime"),
        )
        if totals:
            run.update(
                files=totals.get("files"),
                miniBatchesSucceeded=totals.get("miniBatchesSucceeded"),
                miniBatchesFailed=totals.get("miniBatchesFailed"),
                rowsScored=totals.get("rowsScored"),
            )
            if totals.get("outputPath"):
                run["outputPath"] = totals["outputPath"]
        run.setdefault("outputPath", _output_path(batch, run_id))
        if merge_failed:
            return _describe_failure(totals, batch.spec.settings.error_threshold) or (
                f"merge failed: {merge_failed.get('reason')}: {merge_failed.get('message', '')}"
            )
        return None

    def _blocked(
        self,
        namespace: str,
        run_id: str,
        job: dict[str, Any],
        merge: dict[str, Any] | None,
    ) -> cond.Summary | None:
        """Why a running run cannot go on: a pod that cannot start, or that nothing can place.

        Neither changes the Job's status (the Job would wait for ever), so the pods say it.
        """
        pods = [] if cond.true_condition(job, "Complete") else self._pods(namespace, run_id)
        if merge is not None:
            pods += self._pods(namespace, merge["metadata"]["name"])
        unfinished = [
            p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        stuck = pod_failure(unfinished)
        if stuck:
            return cond.failed("RunStuck", f"run {run_id}: {stuck}")
        waiting = pod_unschedulable(unfinished)
        if waiting:
            return cond.progressing("PodUnschedulable", f"run {run_id}: {waiting}")
        return None

    def _pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        return self.kube.list("v1", "Pod", namespace, f"{JOB_NAME_LABEL}={job_name}")

    def _merge_totals(self, namespace: str, job_name: str) -> dict[str, Any] | None:
        """The totals the merge pod left in its termination message (newest pod first)."""
        pods = sorted(
            self._pods(namespace, job_name),
            key=lambda p: p["metadata"].get("creationTimestamp", ""),
            reverse=True,
        )
        for pod in pods:
            totals = _message_json(_terminated(pod, MERGE_CONTAINER))
            if totals is not None:
                return totals
        return None

    def _runner_failure(self, batch: BatchDeployment, run_id: str, failed: dict[str, Any]) -> str:
        """Why the Indexed Job failed, from its pods' termination messages when they say."""
        reasons = []
        threshold = batch.spec.settings.error_threshold
        for pod in self._pods(batch.metadata.namespace, run_id):
            terminated = _terminated(pod, RUNNER_CONTAINER)
            if not terminated or terminated.get("exitCode", 0) == 0:
                continue
            index = (pod["metadata"].get("annotations") or {}).get(
                "batch.kubernetes.io/job-completion-index", "?"
            )
            document = _message_json(terminated)
            detail = _describe_failure(document, threshold) if document else None
            text = detail or (terminated.get("message") or "").strip()
            reasons.append(
                f"index {index}: {text or 'exit code ' + str(terminated.get('exitCode'))}"
            )
        if reasons:
            return "; ".join(sorted(set(reasons)))[:2000]
        return f"{failed.get('reason')}: {failed.get('message', '')}".strip()

    # -- status -------------------------------------------------------------------

    def _summarize(
        self,
        batch: BatchDeployment,
        history: list[dict[str, Any]],
        blocker: cond.Summary | None,
        failure_messages: dict[str, str],
        blocked_runs: dict[str, cond.Summary],
        old_status: dict[str, Any],
    ) -> cond.Summary:
        if blocker is not None:
            return blocker
        if not history:
            if batch.spec.schedule:
                return cond.ready("Scheduled", f"runs on schedule {batch.spec.schedule!r}")
            return cond.progressing("RunPending", "the first run is being started")
        last = history[-1]
        if last.get("result") == FAILED:
            why = failure_messages.get(last["id"])
            if why is None:
                # The pods may be gone; keep what was learnt while they existed.
                old = cond.find_condition(old_status.get("conditions") or [], cond.READY) or {}
                why = old.get("message", "") if last["id"] in old.get("message", "") else ""
                why = why.split(": ", 1)[1] if ": " in why else why
            return cond.failed("RunFailed", f"run {last['id']} failed: {why}".rstrip(": "))
        if last.get("result") == SUCCEEDED:
            return cond.ready(
                "RunSucceeded",
                f"run {last['id']} scored {last.get('rowsScored', '?')} rows"
                + (f" into {last['outputPath']}" if last.get("outputPath") else ""),
            )
        if last["id"] in blocked_runs:
            return blocked_runs[last["id"]]
        return cond.progressing("RunInProgress", f"run {last['id']} is running")

    def _write_status(
        self,
        body: dict[str, Any],
        old_status: dict[str, Any],
        status: dict[str, Any],
        summary: cond.Summary,
    ) -> BatchOutcome:
        write_status(self.kube, c.KIND_BATCH_DEPLOYMENT, body, status, summary)
        return BatchOutcome(status=status, summary=summary)


def _started_by_our_cronjob(job: dict[str, Any], name: str) -> bool:
    # Scheduled runs' Jobs are owned by the CronJob (named after the BatchDeployment).
    return any(
        ref.get("kind") == "CronJob" and ref.get("name") == name
        for ref in job["metadata"].get("ownerReferences") or []
    )


def _output_path(batch: BatchDeployment, run_id: str) -> str:
    """Where the merged output of a run lands, relative to the output volume's root."""
    output = batch.spec.output
    if output.action != "appendRow":
        return f"{output.path}/{run_id}"
    return f"{output.path}/{run_id}/{output.file_name}"


def _describe_failure(document: dict[str, Any] | None, threshold: int) -> str | None:
    """A runner's or merge step's termination message, as one sentence naming bad files."""
    if not document:
        return None
    if document.get("error"):
        return str(document["error"])
    failed = document.get("failedFiles") or {}
    if not document.get("thresholdExceeded") and not failed:
        return None
    count = document.get("failedFileCount", len(failed))
    listed = "; ".join(f"{name}: {why}" for name, why in sorted(failed.items()))
    more = count - len(failed)
    return f"{count} file(s) failed, more than errorThreshold {threshold}: {listed}" + (
        f" (and {more} more)" if more > 0 else ""
    )


def run_history(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs oldest first, at most MAX_RUNS; the last one is what the status speaks of.

    startTime has one-second precision, so runs started in the same second keep the order
    they were started in (`runs` holds the recorded history, then new runs), never the order
    of their random ids: that made the status describe the older of two such runs.
    """
    return sorted(runs.values(), key=lambda run: run.get("startTime") or "")[-MAX_RUNS:]
