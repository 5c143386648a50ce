"""Start a BatchDeployment run by hand (the run annotation) and follow it to its end."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from modelserve_operator import constants as c

from .errors import ModelserveError
from .kube import NamedResource
from .progress import ConsoleProgress, Progress
from .summary import format_run
from .waiting import condition

DEFAULT_RUN_TIMEOUT_S = 1800.0
POLL_INTERVAL_S = 1.0
RUNNING = "Running"


def new_run_request_id(now: dt.datetime | None = None) -> str:
    """A fresh value for the run annotation: UTC time plus randomness, never reused."""
    moment = now or dt.datetime.now(dt.UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def new_runs(obj: dict[str, Any], known: set[str]) -> list[dict[str, Any]]:
    """Runs in the status that were not there before the request."""
    runs = (obj.get("status") or {}).get("runs") or []
    return [run for run in runs if run.get("id") not in known]


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
            if fresh:
                run = fresh[-1]
                said = format_run(run)
            else:
                said = "waiting for the operator to start the run"
            if said != last:
                progress.step(f"  {said}")
                last = said
            if run is not None and run.get("result") not in (None, RUNNING):
                if run["result"] == "Succeeded":
                    return run
                why = condition(obj, "Ready").get("message") or format_run(run)
                raise ModelserveError(
                    f"run {run['id']} of {self.name} failed: {why}",
                    "the runner's pod logs say more: kubectl logs -l "
                    f"batch.kubernetes.io/job-name={run['id']}",
                )
            if time.monotonic() > deadline:
                raise ModelserveError(
                    f"the run of {self.name} did not finish within {timeout:.0f} s (last: {said})",
                    "is the modelserve operator running? Pass a longer --timeout to wait more",
                )
            time.sleep(POLL_INTERVAL_S)
