"""metav1.Condition bookkeeping and the kstatus-compatible summary of a resource's state.

Every kind reports five condition types. Humans read ``Ready``, ``Progressing`` and
``Degraded``; kstatus (Argo CD, Flux, ``kpt live status``) ignores those last two and
reads the abnormal-true pair ``Reconciling`` and ``Stalled`` instead, so each summary
sets both pairs from the same facts:

======================  ==============  ============  ============  ========  ===========
state                   Ready           Progressing   Reconciling   Degraded  Stalled
======================  ==============  ============  ============  ========  ===========
done                    True            False         False         False     False
rolling out / waiting   False           True          True          False     False
failed (needs a human)  False           False         False         True      True
======================  ==============  ============  ============  ========  ===========

With ``observedGeneration`` equal to ``metadata.generation`` this makes kstatus report
Current, InProgress and Failed respectively.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
RECONCILING = "Reconciling"
STALLED = "Stalled"

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"
_STATUSES = frozenset({TRUE, FALSE, UNKNOWN})


def format_time(now: dt.datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_condition(conditions: Iterable[dict[str, Any]], type_: str) -> dict[str, Any] | None:
    """The condition of this type, or None."""
    for condition in conditions:
        if condition.get("type") == type_:
            return condition
    return None


def object_condition(obj: Mapping[str, Any] | None, type_: str) -> dict[str, Any]:
    """The condition of this type in an object's status.conditions, or {} when there is none."""
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return find_condition(conditions, type_) or {}


def true_condition(obj: Mapping[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The condition of this type in an object's status if it is True, else None."""
    condition = object_condition(obj, type_)
    return condition if condition.get("status") == TRUE else None


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: str,
    reason: str,
    message: str,
    observed_generation: int | None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Return a new condition list with ``type_`` set.

    ``lastTransitionTime`` only moves when the status changes, so it says how long
    the resource has been in its current state; reason and message follow every call.
    """
    if status not in _STATUSES:
        raise ValueError(f"condition status must be True, False or Unknown, not {status!r}")
    if not reason or not reason[0].isalpha():
        raise ValueError(f"condition reason must be a CamelCase word, not {reason!r}")
    existing = find_condition(conditions or [], type_)
    transition = (
        existing["lastTransitionTime"]
        if existing and existing.get("status") == status and existing.get("lastTransitionTime")
        else format_time(now)
    )
    updated: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if observed_generation is not None:
        updated["observedGeneration"] = observed_generation
    result = [dict(c) for c in (conditions or []) if c.get("type") != type_]
    # Keep the order stable so a status patch without a change is a no-op.
    index = next((i for i, c in enumerate(conditions or []) if c.get("type") == type_), len(result))
    result.insert(index, updated)
    return result


@dataclass(frozen=True)
class Summary:
    """What a reconciler concluded: one of done, progressing or failed, with why."""

    state: str  # "ready" | "progressing" | "failed"
    reason: str
    message: str


def ready(reason: str = "Ready", message: str = "") -> Summary:
    """Everything the spec asks for exists and serves."""
    return Summary("ready", reason, message)


def progressing(reason: str, message: str) -> Summary:
    """Work is under way and expected to finish by itself (rollout, pods starting)."""
    return Summary("progressing", reason, message)


def failed(reason: str, message: str) -> Summary:
    """Progress stopped until something changes (missing model, bad digest, crash loop)."""
    return Summary("failed", reason, message)


def summarize(
    conditions: list[dict[str, Any]] | None,
    summary: Summary,
    observed_generation: int | None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Set Ready/Progressing/Degraded and kstatus' Reconciling/Stalled from one summary."""
    if summary.state not in ("ready", "progressing", "failed"):
        raise ValueError(f"unknown summary state {summary.state!r}")
    is_ready = summary.state == "ready"
    is_progressing = summary.state == "progressing"
    is_failed = summary.state == "failed"
    quiet_reason = "AsExpected"
    result = list(conditions or [])

    def put(type_: str, on: bool, reason_if_off: str) -> None:
        nonlocal result
        result = set_condition(
            result,
            type_,
            TRUE if on else FALSE,
            summary.reason if on else reason_if_off,
            summary.message if on else "",
            observed_generation,
            now,
        )

    result = set_condition(
        result,
        READY,
        TRUE if is_ready else FALSE,
        summary.reason,
        summary.message,
        observed_generation,
        now,
    )
    put(PROGRESSING, is_progressing, quiet_reason)
    put(RECONCILING, is_progressing, quiet_reason)
    put(DEGRADED, is_failed, quiet_reason)
    put(STALLED, is_failed, quiet_reason)
    return result


def initial_conditions(observed_generation: int | None, now: dt.datetime) -> list[dict[str, Any]]:
    """Conditions for a resource seen for the first time: Ready Unknown, Reconciling True."""
    first = progressing("Reconciling", "first reconcile in progress")
    conditions = summarize([], first, observed_generation, now)
    return set_condition(
        conditions, READY, UNKNOWN, first.reason, first.message, observed_generation, now
    )


def is_true(conditions: Iterable[dict[str, Any]] | None, type_: str) -> bool:
    """Whether the condition of this type is present and True."""
    condition = find_condition(conditions or [], type_)
    return bool(condition and condition.get("status") == TRUE)
