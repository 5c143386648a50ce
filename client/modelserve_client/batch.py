"""Start a BatchDeployment run by hand (the run annotation) and follow it to its end."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from modelserve_api import constants as c
from modelserve_api.conditions import object_condition

from .errors import ModelserveError
from .kube import NamedResource
from .progress import ConsoleProgress, Progress
from .summary import format_run

DEFAULT_RUN_TIMEOUT_S = 1800.0
POLL_INTERVAL_S = 1.0
RUNNING = "Running"
# Ready reasons (operator reconcilers/batch_deployment.py) for a run that cannot go on.
BLOCKED_REASONS = ("PodUnschedulable", "RunStuck")


def new_run_request_id(now: dt.datetime | None = None) -> str:
    """A fresh value for the run annotation: UTC time plus randomness, never reused."""
    moment = now or dt.datetime.now(dt.UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def new_runs(obj: dict[str, Any], known: set[str]) -> list[dict[str, Any]]:
    """Runs in the status that were not there before the request."""
    runs = (obj.get("status") or {}).get("runs") or []
    return [run for run in runs if run.get("id") not in known]


def blocked_by(obj: dict[str, Any], run: dict[str, Any]) -> str | None:
    """What keeps a running run from going on, as the operator's Ready condition says it.

    A pod that nothing can schedule (PodUnschedulable) or whose image cannot be pulled
    (RunStuck): the run's own record still says Running.
    """
    if run.get("result") != RUNNING:
        return None
    ready = object_condition(obj, "Ready")
    message = ready.get("message") or ""
    if ready.get("reason") in BLOCKED_REASONS and message.startswith(f"run {run.get('id')}: "):
        return message.removeprefix(f"run {run.get('id')}: ")
    return None


class BatchDeployment(NamedResource):
    """One BatchDeployment, by name, in a namespace (the kubeconfig's by default)."""

    plural = c.PLURAL_BATCH_DEPLOYMENTS

    def get(self) -> dict[str, Any]:
        obj = self.connection.get(self.path, f"read BatchDeployment {self.name}")
        if obj is None:
            self.connection.require_namespace(self.namespace)
            raise ModelserveError(
                f"BatchDeployment {self.name!r} does not exist in namespace {self.namespace!r}",
                "check the name (kubectl get batchdeployments), or pass --namespace",
            )
        return obj

    def runs(self) -> list[dict[str, Any]]:
        """The most recent runs from the status, oldest first."""
        return (self.get().get("status") or {}).get("runs") or []

    def run(
        self,
        wait: bool = False,
        timeout: float = DEFAULT_RUN_TIMEOUT_S,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Ask for a new run; with `wait`, follow it and return its status entry when done.

        Without `wait` the result is {"request": <annotation value>}. A failed run raises.
        """
        progress = progress or ConsoleProgress()
        known = {run.get("id") for run in self.runs()}
        request = new_run_request_id()
        self.connection.merge_patch(
            self.path,
            {"metadata": {"annotations": {c.ANNOTATION_RUN: request}}},
            f"annotate BatchDeployment {self.name}",
        )
        progress.step(f"requested a run of {self.name} ({c.ANNOTATION_RUN}={request})")
        if not wait:
            return {"request": request}
        return self._follow(known, timeout, progress)

    def _follow(self, known: set[str], timeout: float, progress: Progress) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = ""
        run: dict[str, Any] | None = None
        while True:
            obj = self.get()
            fresh = new_runs(obj, known)
            blocked = None
            if fresh:
                run = fresh[-1]
                said = format_run(run)
                blocked = blocked_by(obj, run)
                if blocked:
                    said += f"; {blocked}"
            else:
                said = "waiting for the operator to start the run"
            if said != last:
                progress.step(f"  {said}")
                last = said
            if blocked and object_condition(obj, "Stalled").get("status") == "True":
                raise ModelserveError(
                    f"run {run['id']} of {self.name} cannot go on: {blocked}",
                    "make the image available to the nodes, or fix the spec; the run goes on "
                    "by itself once its pods start",
                )
            if run is not None and run.get("result") not in (None, RUNNING):
                if run["result"] == "Succeeded":
                    return run
                why = object_condition(obj, "Ready").get("message") or format_run(run)
                raise ModelserveError(
                    f"run {run['id']} of {self.name} failed: {why}",
                    "the runner's pod logs say more: kubectl logs -l "
                    f"batch.kubernetes.io/job-name={run['id']}",
                )
            if time.monotonic() > deadline:
                raise ModelserveError(
                    f"the run of {self.name} did not finish within {timeout:.0f} s (last: {said})",
                    "make room for the pod the scheduler cannot place (or ask for less)"
                    if blocked
                    else "is the modelserve operator running? Pass a longer --timeout to wait more",
                )
            time.sleep(POLL_INTERVAL_S)
