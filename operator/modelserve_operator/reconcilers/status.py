"""Writing a custom resource's status: conditions, a minimal merge patch, an Event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from modelserve_api import conditions as cond
from modelserve_api import constants as c

from ..kube import Kube
from ..metrics import record_conditions


def write_status(
    kube: Kube,
    kind: str,
    body: dict[str, Any],
    status: dict[str, Any],
    summary: cond.Summary,
    *,
    record_event: bool = True,
) -> dict[str, Any]:
    """Set the conditions in `status`, patch what changed, and record an Event on a new reason.

    Returns `status` (with its conditions). Nothing is written when nothing changed, so a
    repeated reconcile causes no watch event and no loop.
    """
    meta = body["metadata"]
    old = body.get("status") or {}
    # A reconciler may have set conditions of its own (monitoring): the summary goes on top.
    base = status["conditions"] if "conditions" in status else old.get("conditions")
    status["conditions"] = cond.summarize(
        base, summary, meta.get("generation"), dt.datetime.now(dt.UTC)
    )
    # Exported even when unchanged: a restarted operator must report what it finds.
    record_conditions(kind, meta["namespace"], meta["name"], status["conditions"])
    patch = status_patch(old, status)
    if not patch:
        return status
    kube.patch_status(c.API_VERSION, kind, meta["namespace"], meta["name"], patch)
    old_ready = cond.find_condition(old.get("conditions") or [], cond.READY) or {}
    if record_event and old_ready.get("reason") != summary.reason:
        kube.emit_event(
            body,
            reason=summary.reason,
            message=summary.message or summary.reason,
            event_type="Warning" if summary.state == "failed" else "Normal",
        )
    return status


def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch turning `old` into `new`: maps get explicit nulls for removed keys.

    Nested maps are patched the same way (a merge patch merges them, so a key left out
    would otherwise stay).
    """
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if value == before:
            continue
        if isinstance(value, dict) and isinstance(before, dict):
            patch[key] = {
                **{k: None for k in before if k not in value},
                **status_patch(before, value),
            }
        else:
            patch[key] = value
    return patch


def owned_by(child: dict[str, Any], uid: str | None) -> bool:
    """Whether `child` has an ownerReference to the object with this uid."""
    return any(ref.get("uid") == uid for ref in child["metadata"].get("ownerReferences") or [])
