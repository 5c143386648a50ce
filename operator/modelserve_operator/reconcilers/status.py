"""Writing a custom resource's status: conditions, a minimal merge patch, an Event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from modelserve_api import conditions as cond
from modelserve_api import constants as c

from ..kube import Kube
from ..metrics import record_conditions

# Condition on every object of a kind whose CRD is not this operator's (crd_check.py).
CRD_CURRENT = "CRDCurrent"
_crd_problems: dict[str, str] = {}


def set_crd_problems(problems: dict[str, str]) -> None:
    """What the last look at the CRDs (at start, before each resync) found: kind -> why."""
    _crd_problems.clear()
    _crd_problems.update(problems)


def crd_problems_found() -> dict[str, str]:
    """What the last look at the CRDs found."""
    return dict(_crd_problems)


def _with_crd_condition(
    conditions: list[dict[str, Any]] | None, kind: str, generation: int | None, now: dt.datetime
) -> list[dict[str, Any]] | None:
    """`conditions` with CRDCurrent=False while the kind's CRD is outdated, else without it."""
    problem = _crd_problems.get(kind)
    if problem:
        return cond.set_condition(
            conditions, CRD_CURRENT, cond.FALSE, "CRDOutdated", problem, generation, now
        )
    if conditions and cond.find_condition(conditions, CRD_CURRENT):
        return [x for x in conditions if x.get("type") != CRD_CURRENT]
    return conditions


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
    now = dt.datetime.now(dt.UTC)
    base = _with_crd_condition(base, kind, meta.get("generation"), now)
    status["conditions"] = cond.summarize(base, summary, meta.get("generation"), now)
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
