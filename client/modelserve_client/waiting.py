"""Waiting for an object's Ready condition, reporting what it waits for as that changes."""

from __future__ import annotations

import time
from typing import Any

from modelserve_api.conditions import object_condition

from .errors import ModelserveError
from .kube import Kube
from .progress import Progress

POLL_INTERVAL_S = 1.0


def is_current(obj: dict[str, Any]) -> bool:
    """Whether the status describes the object's latest spec (observedGeneration caught up)."""
    status = obj.get("status") or {}
    return status.get("observedGeneration") == obj.get("metadata", {}).get("generation")


def readiness(obj: dict[str, Any] | None) -> tuple[str, str]:
    """('ready' | 'failed' | 'waiting', what the Ready condition says)."""
    if obj is None:
        return "waiting", "the object is gone"
    ready = object_condition(obj, "Ready")
    said = f"{ready.get('reason', 'NoStatusYet')}: {ready.get('message', 'not reconciled yet')}"
    if not is_current(obj):
        return "waiting", "the operator has not seen the latest spec yet"
    if ready.get("status") == "True":
        return "ready", said
    if object_condition(obj, "Stalled").get("status") == "True":
        return "failed", said
    return "waiting", said


def wait_ready(
    kube: Kube, path: str, label: str, timeout: float, progress: Progress
) -> dict[str, Any]:
    """Poll the object at `path` until Ready; a Stalled object or the deadline is an error."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    last = ""
    progress.step(f"waiting for {label} to be Ready (up to {timeout:.0f} s) ...")
    while True:
        obj = kube.get(path, f"read {label}")
        state, said = readiness(obj)
        if said != last:
            progress.step(f"  [{time.monotonic() - started:4.0f} s] {said}")
            last = said
        if state == "ready":
            return obj
        if state == "failed":
            raise ModelserveError(
                f"{label} failed: {said}",
                "fix what the message names; `kubectl describe` shows the object's events",
            )
        if time.monotonic() > deadline:
            raise ModelserveError(
                f"{label} was not Ready after {timeout:.0f} s (last: {said})",
                "is the modelserve operator running and watching this namespace? "
                "Pass a longer --timeout to wait more",
            )
        time.sleep(POLL_INTERVAL_S)
