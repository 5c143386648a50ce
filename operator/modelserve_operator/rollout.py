"""Pure decisions of a progressive rollout: the step, the analysis, promotion and rollback.

No I/O here: reconcilers/rollout.py reads the scoring pods' call counters and the
endpoint, asks `decide` what to do, and writes the result into status.rollout. The spec
says where traffic should go (spec.traffic); this module only ever says how far along the
way the routers should be now, so the operator never writes the spec.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelserve_api import conditions as cond
from modelserve_api.monitoring_report import CallCounters
from modelserve_api.rollout import (
    MAX_ANALYSIS_ENTRIES,
    UNMEASURED_GATE_METRICS,
    RolloutGate,
    RolloutPolicy,
)

ROLLOUT_HEALTHY = "RolloutHealthy"
# Promoted, but a deployment whose model changed in place still takes the new model over
# from its candidate (version_change.py); its share comes back to it once it has.
HANDING_OVER = "HandingOver"
IN_FLIGHT = ("Progressing", "Paused", "AwaitingPromotion")
HELD = ("RolledBack", "Aborted")

# deployment -> pod -> that pod's GET /monitoring/requests (wire form)
Readings = dict[str, dict[str, dict[str, Any]]]
# Reads the counters of every Ready pod of these deployments; raises when one cannot be read.
ReadCounters = Callable[[list[str]], Readings]
# () -> the endpoint's shadow collector's GET /shadow document (docs/shadow.md)
ReadShadow = Callable[[], dict[str, Any]]
SHADOW_COUNTERS = ("pairedRequests", "pairedRows", "agreeingRows")


def live(traffic: Mapping[str, int]) -> dict[str, int]:
    """The split without zero shares."""
    return {name: share for name, share in traffic.items() if share > 0}


def target_hash(target: Mapping[str, int], deployments: Mapping[str, Any]) -> str:
    """A hash of what a rollout moves to: the split and the spec of each deployment in it.

    Re-applying the same manifest (a GitOps sync) keeps it; a new model version, image or
    split of a deployment in the target changes it, so a rolled-back target is retried.
    """
    document = {
        "traffic": dict(sorted(live(target).items())),
        "deployments": {name: deployments.get(name) for name in sorted(live(target))},
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def blend(stable: Mapping[str, int], target: Mapping[str, int], percent: int) -> dict[str, int]:
    """The split `percent` of the way from `stable` to `target`, in whole percents adding to 100.

    Largest remainders settle the rounding, ties by name, so the same inputs always give the
    same split (a router restarts on each new split).
    """
    names = sorted(set(live(stable)) | set(live(target)))
    exact = {
        n: (stable.get(n, 0) * (100 - percent) + target.get(n, 0) * percent) / 100 for n in names
    }
    floors = {n: int(v) for n, v in exact.items()}
    remainder = 100 - sum(floors.values())
    for name in sorted(names, key=lambda n: (-(exact[n] - floors[n]), n))[:remainder]:
        floors[name] += 1
    return live(floors)


def counters_since(before: Mapping[str, Any], now: Mapping[str, Any]) -> CallCounters:
    """Calls (and their latency histogram) answered since `before`, summed over pods.

    A pod missing from `before`, or whose counters went down (it restarted), counts in full:
    everything it answered came after.
    """
    answered = errors = 0
    bounds: list[float] | None = None
    counts: list[int] | None = None
    for pod, raw in now.items():
        current = CallCounters.model_validate(raw)
        base = CallCounters.model_validate(before.get(pod) or {})
        if current.answered < base.answered or current.server_errors < base.server_errors:
            base = CallCounters()
        answered += current.answered - base.answered
        errors += current.server_errors - base.server_errors
        if current.latency_counts is None or current.latency_buckets_ms is None:
            continue
        old = base.latency_counts or [0] * len(current.latency_counts)
        if len(old) != len(current.latency_counts) or base.answered == 0:
            old = [0] * len(current.latency_counts)
        delta = [a - b for a, b in zip(current.latency_counts, old, strict=True)]
        if counts is None:
            bounds, counts = list(current.latency_buckets_ms), delta
        elif bounds == current.latency_buckets_ms:
            counts = [a + b for a, b in zip(counts, delta, strict=True)]
    return CallCounters(
        answered=answered, server_errors=errors, latency_buckets_ms=bounds, latency_counts=counts
    )


def sum_counters(parts: list[CallCounters]) -> CallCounters:
    """Counters of several deployments added up (histograms with the same bounds)."""
    total = CallCounters()
    for part in parts:
        total = counters_since({}, {"a": total.model_dump(by_alias=True), "b": _wire(part)})
    return total


def _wire(counters: CallCounters) -> dict[str, Any]:
    return counters.model_dump(by_alias=True, exclude_none=True)


def p99_ms(counters: CallCounters) -> float | None:
    """The 99th percentile of answer time, in ms, from the histogram (None without calls).

    As Prometheus' histogram_quantile: linear within the bucket that holds it; in the
    unbounded last bucket, the highest bound.
    """
    bounds, counts = counters.latency_buckets_ms, counters.latency_counts
    if not bounds or not counts or sum(counts) == 0:
        return None
    rank = 0.99 * sum(counts)
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(bounds):
                return bounds[-1]
            low = bounds[index - 1] if index else 0.0
            return low + (bounds[index] - low) * (rank - seen) / count
        seen += count
    return bounds[-1]


@dataclass(frozen=True)
class GateOutcome:
    """One gate's verdict in wire form, plus whether it could be judged."""

    metric: str
    threshold: str
    measured: float | None = None
    passed: bool | None = None
    message: str | None = None
    calls: int | None = None  # agreement: the mirrored requests paired in the step

    def status(self) -> dict[str, Any]:
        """Its entry in status.rollout.analysis[].gates."""
        entry: dict[str, Any] = {"metric": self.metric, "threshold": self.threshold}
        if self.measured is not None:
            entry["measured"] = round(self.measured, 6)
        if self.passed is not None:
            entry["passed"] = self.passed
        if self.message:
            entry["message"] = self.message
        if self.calls is not None:
            entry["calls"] = self.calls
        return entry

    def describe(self) -> str:
        """E.g. "latencyP99 measured 812.5 (threshold <= 250 ms)"."""
        value = "not measured" if self.measured is None else f"measured {self.measured:.4g}"
        return f"{self.metric} {value} (threshold {self.threshold})"


def _threshold(gate: RolloutGate) -> str:
    if gate.metric != "latencyP99":
        return f">= {gate.min:g}"
    parts = []
    if gate.max_ms is not None:
        parts.append(f"<= {gate.max_ms:g} ms")
    if gate.max_ratio_to_stable is not None:
        parts.append(f"<= {gate.max_ratio_to_stable:g} x stable p99")
    return " and ".join(parts)


@dataclass(frozen=True)
class Measurement:
    """What the pods answered since the step began: the new side and the stable side."""

    canary: CallCounters
    stable: CallCounters | None = None
    # From the shadow collector's paired answers in this step; None: not measurable (see note).
    agreement: float | None = None
    agreement_calls: int | None = None
    agreement_note: str = "not measurable"


def judge_gate(gate: RolloutGate, measured: Measurement, min_calls: int) -> GateOutcome:
    """One gate against what was measured."""
    threshold = _threshold(gate)
    canary = measured.canary
    if gate.metric == "successRate":
        assert gate.min is not None
        rate = 1.0 - canary.server_errors / canary.answered if canary.answered else 1.0
        return GateOutcome(gate.metric, threshold, rate, rate >= gate.min)
    if gate.metric in UNMEASURED_GATE_METRICS and measured.agreement is None:
        return GateOutcome(
            gate.metric,
            threshold,
            message=f"{measured.agreement_note}; the step holds",
            calls=measured.agreement_calls,
        )
    if gate.metric == "agreement":
        assert gate.min is not None and measured.agreement is not None
        paired = measured.agreement_calls or 0
        if paired < min_calls:
            # The pods answered enough, but their answers reach the collector late or were
            # dropped: a few pairs must never pass (or fail) a gate meant for minCalls.
            return GateOutcome(
                gate.metric,
                threshold,
                message=(
                    f"{paired} of the {min_calls} paired mirrored requests the gate needs; "
                    "the step holds"
                ),
                calls=paired,
            )
        agreement = measured.agreement
        return GateOutcome(
            gate.metric,
            threshold,
            agreement,
            agreement >= gate.min,
            calls=measured.agreement_calls,
        )
    p99 = p99_ms(canary)
    if p99 is None:
        return GateOutcome(gate.metric, threshold, message="no latency histogram from the pods")
    passed = gate.max_ms is None or p99 <= gate.max_ms
    if gate.max_ratio_to_stable is not None:
        stable = measured.stable
        stable_p99 = p99_ms(stable) if stable is not None else None
        if stable is None or stable.answered < max(min_calls, 1) or stable_p99 is None:
            return GateOutcome(
                gate.metric,
                threshold,
                p99,
                False if not passed else None,
                "too few stable calls to compare with",
            )
        ratio_ok = p99 <= gate.max_ratio_to_stable * stable_p99
        threshold = f"{threshold} ({stable_p99:.4g} ms)"
        passed = passed and ratio_ok
    return GateOutcome(gate.metric, threshold, p99, passed)


@dataclass(frozen=True)
class Analysis:
    """One analysis of a step: Passed, Failed, TooFewCalls, NotMeasurable or Unreadable."""

    result: str
    calls: int
    gates: tuple[GateOutcome, ...] = ()
    message: str = ""

    @property
    def failed_gate(self) -> GateOutcome | None:
        """The first gate that failed, if one did."""
        return next((g for g in self.gates if g.passed is False), None)


def analyse(policy: RolloutPolicy, measured: Measurement | None, error: str = "") -> Analysis:
    """Judge every gate; a failed one fails the analysis, an unjudged one holds it."""
    if measured is None:
        return Analysis("Unreadable", 0, message=f"could not read the pods' counters: {error}")
    calls = measured.canary.answered
    if calls < policy.min_calls:
        return Analysis(
            "TooFewCalls",
            calls,
            message=f"{calls} of the {policy.min_calls} calls a step needs before it is judged",
        )
    gates = tuple(judge_gate(g, measured, policy.min_calls) for g in policy.gates)
    failed = next((g for g in gates if g.passed is False), None)
    if failed is not None:
        return Analysis("Failed", calls, gates, f"gate {failed.describe()} failed")
    unjudged = [g for g in gates if g.passed is None]
    if unjudged:
        why = "; ".join(f"{g.metric}: {g.message}" for g in unjudged)
        return Analysis("NotMeasurable", calls, gates, f"gate(s) not judged: {why}")
    return Analysis("Passed", calls, gates, f"all {len(gates)} gate(s) passed on {calls} calls")


@dataclass(frozen=True)
class RolloutView:
    """What a rollout decision needs to know."""

    policy: RolloutPolicy
    target: dict[str, int]  # spec.traffic, live shares
    target_hash: str
    generation: int | None
    applied: dict[str, int]  # status.traffic: what callers get now
    record: dict[str, Any]  # the previous status.rollout (wire form), {} when none
    ready: Mapping[str, bool]  # deployment -> at least one pod serves
    deployments: frozenset[str]  # names in spec.deployments
    control: str | None  # the modelserve.io/rollout annotation
    now: dt.datetime
    # The endpoint's shadow collector, read only when an agreement gate is judged.
    read_shadow: ReadShadow | None = None
    # In-place model changes (status.rollout.versionChanges entries): each names the
    # deployment and the candidate that serves its new model until the hand-over.
    version_changes: tuple[dict[str, Any], ...] = ()
    # Candidates whose deployment now runs their model, rolled out: their share goes back.
    handed_over: frozenset[str] = frozenset()
    # The hash of spec.traffic with the spec's own deployments: the target once handed over.
    final_hash: str | None = None


@dataclass
class RolloutDecision:
    """The new status.rollout, the split (and mirror) to ask the routers for, and Events."""

    record: dict[str, Any]
    traffic: dict[str, int]
    mirror: tuple[str, int] | None = None
    events: list[tuple[str, str, bool]] = field(default_factory=list)  # reason, message, warning
    # (status, reason, message) of RolloutHealthy, or None to leave it as it is.
    healthy: tuple[str, str, str] | None = None
    # seconds until the next analysis is due (None: nothing to wait for)
    next_look: float | None = None

    @property
    def phase(self) -> str | None:
        """The rollout's phase."""
        return self.record.get("phase")


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def moving(stable: Mapping[str, int], target: Mapping[str, int]) -> list[str]:
    """The deployments a rollout gives more traffic: the ones the gates measure."""
    return sorted(n for n, share in live(target).items() if share > stable.get(n, 0))


def staying(stable: Mapping[str, int], target: Mapping[str, int]) -> list[str]:
    """The stable side: deployments serving before that do not gain traffic."""
    gaining = set(moving(stable, target))
    return sorted(n for n in live(stable) if n not in gaining)


def decide(view: RolloutView, read: ReadCounters) -> RolloutDecision:
    """The next move of the rollout toward spec.traffic; `read` is called only when needed."""
    record = dict(view.record)
    control, last_control = view.control, record.get("lastControl")
    fresh_control = control if control != last_control else None
    record["lastControl"] = control
    if not control:
        record.pop("lastControl")
    if record.get("targetHash") != view.target_hash:
        return _start(view, record, read)
    phase = record.get("phase")
    if phase == HANDING_OVER:
        return _hand_over(view, record)
    if phase in HELD:
        return RolloutDecision(record, dict(record.get("stable") or view.applied))
    if phase not in IN_FLIGHT:
        return RolloutDecision(record, dict(view.target))
    if fresh_control == "abort":
        return _roll_back(view, record, "Aborted", "aborted by annotation modelserve.io/rollout")
    if fresh_control == "promote":
        return _promote(view, record, "promoted by the annotation modelserve.io/rollout")
    if control == "pause":
        record["phase"] = "Paused"
        record["message"] = f"paused at step {record.get('step', 0)} by the annotation"
        return _hold(record)
    if phase == "Paused":
        record["phase"] = "Progressing"
    if phase == "AwaitingPromotion":
        return _hold(record)
    return _advance(view, record, read)


def _hold(record: dict[str, Any]) -> RolloutDecision:
    return RolloutDecision(record, dict(record.get("traffic") or {}), _mirror_of(record))


def _mirror_of(record: dict[str, Any]) -> tuple[str, int] | None:
    mirror = record.get("mirror") or {}
    return next(iter(mirror.items()), None)


def _start(view: RolloutView, record: dict[str, Any], read: ReadCounters) -> RolloutDecision:
    """A new target: begin from what callers get now (or the interrupted rollout's stable)."""
    previous_phase = record.get("phase")
    stable = live(view.applied)
    if previous_phase in IN_FLIGHT and record.get("stable"):
        # A target changed mid-way: start again from the split that was proven.
        stable = live(record["stable"])
    base = {
        "targetHash": view.target_hash,
        "targetGeneration": view.generation,
        "strategy": view.policy.strategy,
        "stable": stable,
        "target": dict(view.target),
    }
    for key in ("lastControl", "rolledBack"):
        if key in record:
            base[key] = record[key]
    if view.version_changes:
        base["versionChanges"] = [dict(change) for change in view.version_changes]
    # a candidate of a version change is named in status only, never in the spec: serving,
    # it has not left the spec (a change of spec while it hands over is stepped as any other)
    candidates = {change["candidate"] for change in view.version_changes}
    gone = sorted(set(stable) - view.deployments - candidates)
    immediate = (
        view.policy.strategy == "immediate"
        or not stable
        or not view.target
        or stable == view.target
        or gone
    )
    if immediate:
        why = (
            "nothing to compare with (no traffic served before)"
            if not stable
            else f"deployment(s) {', '.join(gone)} left the spec"
            if gone
            else "strategy immediate"
            if view.policy.strategy == "immediate"
            else "nothing to move"
        )
        base.update(
            phase="Succeeded",
            traffic=dict(view.target),
            step=0,
            message=f"applied {view.target} at once: {why}",
        )
        events = [] if stable == view.target else [("RolloutSucceeded", base["message"], False)]
        return RolloutDecision(base, dict(view.target), events=events)
    base.update(phase="Progressing", traffic=stable, step=0, failedChecks=0, analysis=[])
    decision = _take_step(view, base, 1, read)
    if decision.healthy is None:
        decision.healthy = (
            cond.UNKNOWN,
            "RolloutInProgress",
            f"rolling out {view.target} from {stable}",
        )
    decision.events.insert(
        0,
        (
            "RolloutStarted",
            f"rolling out {view.target} from {stable} ({view.policy.strategy})",
            False,
        ),
    )
    return decision


def _steps(view: RolloutView, record: dict[str, Any]) -> list[int]:
    """Percent per step; blue-green is one mirrored step (0 % live), then the switch."""
    if _blue_green(view, record):
        return [0, 100]
    return list(view.policy.steps)


def _blue_green(view: RolloutView, record: dict[str, Any]) -> bool:
    gaining = moving(record.get("stable") or {}, view.target)
    return view.policy.strategy == "blueGreen" and len(gaining) == 1


def _take_step(
    view: RolloutView, record: dict[str, Any], step: int, read: ReadCounters
) -> RolloutDecision:
    """Move to `step` (1-based): the last step is the promotion."""
    steps = _steps(view, record)
    if step >= len(steps):
        if view.policy.on_success == "pause" and record.get("phase") != "AwaitingPromotion":
            record["phase"] = "AwaitingPromotion"
            record["message"] = (
                "every analysed step passed; set the annotation modelserve.io/rollout=promote "
                "to take the last step"
            )
            return RolloutDecision(
                record,
                dict(record["traffic"]),
                _mirror_of(record),
                events=[("RolloutAwaitingPromotion", record["message"], False)],
            )
        return _promote(view, record, "every analysed step passed")
    stable = record["stable"]
    gaining = moving(stable, view.target)
    waiting = [n for n in gaining if not view.ready.get(n, False)]
    if waiting:
        record["message"] = f"waiting for deployment(s) {', '.join(waiting)} to be Ready"
        return RolloutDecision(record, dict(record["traffic"]), _mirror_of(record), next_look=None)
    involved = sorted(set(gaining) | set(staying(stable, view.target)))
    try:
        readings = read(involved)
    except Exception as error:  # a pod going away, a timeout: the step waits for a reading
        record["message"] = f"step {step} waits: could not read the pods' counters: {error}"
        return RolloutDecision(
            record,
            dict(record["traffic"]),
            _mirror_of(record),
            next_look=float(view.policy.interval_seconds),
        )
    percent = steps[step - 1]
    if _blue_green(view, record):
        traffic, mirror = dict(stable), {gaining[0]: view.policy.mirror_percent}
        what = f"mirroring {view.policy.mirror_percent}% of live requests to {gaining[0]}"
    else:
        traffic, mirror = blend(stable, view.target, percent), {}
        what = f"traffic {traffic}"
    now = cond.format_time(view.now)
    record.update(
        step=step,
        stepPercent=percent,
        traffic=traffic,
        mirror=mirror,
        stepStartTime=now,
        stepCalls=readings,
        message=f"step {step} of {len(steps) - 1} ({percent}%): {what}",
    )
    record.pop("lastCheckTime", None)
    if not mirror:
        record.pop("mirror")
    record.pop("shadow", None)
    record.pop("stepShadow", None)
    if mirror and _has_agreement_gate(view.policy) and view.read_shadow is not None:
        # unreadable now: the first analysis takes the baseline instead
        with contextlib.suppress(Exception):
            record["stepShadow"] = shadow_counters(view.read_shadow(), gaining)
    return RolloutDecision(
        record,
        traffic,
        _mirror_of(record),
        events=[("RolloutStep", record["message"], False)],
        next_look=float(view.policy.interval_seconds),
    )


def _advance(view: RolloutView, record: dict[str, Any], read: ReadCounters) -> RolloutDecision:
    """Analyse the current step once an interval has passed; step on, wait or roll back."""
    step = int(record.get("step") or 0)
    if step == 0:
        return _take_step(view, record, 1, read)
    interval = float(view.policy.interval_seconds)
    last = _parse_time(record.get("lastCheckTime") or record.get("stepStartTime")) or view.now
    elapsed = (view.now - last).total_seconds()
    if elapsed < interval:
        decision = _hold(record)
        decision.next_look = interval - elapsed
        return decision
    stable = record["stable"]
    gaining = moving(stable, view.target)
    keeping = staying(stable, view.target)
    not_serving = [n for n in gaining if not view.ready.get(n, False)]
    if not_serving:
        analysis = Analysis(
            "Unreadable", 0, message=f"deployment(s) {', '.join(not_serving)} not serving"
        )
    else:
        try:
            readings = read(sorted(set(gaining) | set(keeping)))
            before = record.get("stepCalls") or {}
            agreement, agreement_calls, note = None, None, ""
            if _has_agreement_gate(view.policy):
                agreement, agreement_calls, note = _measure_agreement(view, record, gaining)
            measured = Measurement(
                canary=sum_counters(
                    [counters_since(before.get(n) or {}, readings.get(n) or {}) for n in gaining]
                ),
                stable=sum_counters(
                    [counters_since(before.get(n) or {}, readings.get(n) or {}) for n in keeping]
                ),
                agreement=agreement,
                agreement_calls=agreement_calls,
                agreement_note=note,
            )
            analysis = analyse(view.policy, measured)
        except Exception as error:  # an unreadable pod counts as a failed check (as in Flagger)
            analysis = analyse(view.policy, None, str(error))
    record["lastCheckTime"] = cond.format_time(view.now)
    _record_analysis(record, analysis, view.now)
    if analysis.result in ("Failed", "Unreadable"):
        failed = int(record.get("failedChecks") or 0) + 1
        record["failedChecks"] = failed
        if failed > view.policy.failed_checks_tolerated:
            return _roll_back(view, record, "GateFailed", analysis.message)
        record["message"] = (
            f"step {step}: {analysis.message} ({failed} of "
            f"{view.policy.failed_checks_tolerated} failed check(s) tolerated)"
        )
        decision = _hold(record)
        decision.events.append(("RolloutCheckFailed", record["message"], True))
        decision.next_look = interval
        return decision
    if analysis.result != "Passed":
        record["message"] = f"step {step} holds: {analysis.message}"
        decision = _hold(record)
        decision.next_look = interval
        return decision
    return _take_step(view, record, step + 1, read)


def _has_agreement_gate(policy: RolloutPolicy) -> bool:
    return any(g.metric == "agreement" for g in policy.gates)


def shadow_counters(document: Mapping[str, Any], names: list[str]) -> dict[str, dict[str, int]]:
    """The collector's cumulative counters of these candidates (0 for one it never saw)."""
    candidates = document.get("candidates") or {}
    return {
        n: {k: int((candidates.get(n) or {}).get(k) or 0) for k in SHADOW_COUNTERS} for n in names
    }


def _measure_agreement(
    view: RolloutView, record: dict[str, Any], gaining: list[str]
) -> tuple[float | None, int | None, str]:
    """(agreement, paired requests, why not measured) since the step began; writes the
    per-candidate figures into record["shadow"]."""
    if not record.get("mirror"):
        return None, None, "agreement is measured on mirrored requests: use strategy blueGreen"
    if view.read_shadow is None:
        return None, None, "this endpoint has no shadow collector"
    try:
        document = view.read_shadow()
    except Exception as error:  # the gate holds; it does not fail on an unreadable collector
        return None, None, f"the shadow collector could not be read: {error}"
    if document.get("task") == "regression":
        return None, None, "agreement compares class labels; this model is a regressor"
    now = shadow_counters(document, gaining)
    before = record.get("stepShadow")
    if before is None or any(
        now[n][k] < (before.get(n) or {}).get(k, 0) for n in gaining for k in SHADOW_COUNTERS
    ):
        # no baseline yet, or the collector restarted (its counters went down): count from now
        record["stepShadow"] = now
        return None, 0, "the shadow collector's counting starts now"
    since = {
        n: {k: now[n][k] - (before.get(n) or {}).get(k, 0) for k in SHADOW_COUNTERS}
        for n in gaining
    }
    record["shadow"] = {
        n: {
            "pairedRequests": f["pairedRequests"],
            "pairedRows": f["pairedRows"],
            **(
                {"agreement": round(f["agreeingRows"] / f["pairedRows"], 6)}
                if f["pairedRows"]
                else {}
            ),
        }
        for n, f in since.items()
    }
    rows = sum(f["pairedRows"] for f in since.values())
    calls = sum(f["pairedRequests"] for f in since.values())
    if rows == 0:
        return None, 0, "no mirrored answer was paired with a live one yet"
    return sum(f["agreeingRows"] for f in since.values()) / rows, calls, ""


def _record_analysis(record: dict[str, Any], analysis: Analysis, now: dt.datetime) -> None:
    entry = {
        "step": int(record.get("step") or 0),
        "percent": int(record.get("stepPercent") or 0),
        "time": cond.format_time(now),
        "calls": analysis.calls,
        "result": analysis.result,
        "gates": [g.status() for g in analysis.gates],
    }
    kept = [a for a in record.get("analysis") or [] if a.get("step") != entry["step"]]
    record["analysis"] = [*kept, entry][-MAX_ANALYSIS_ENTRIES:]


def _promote(view: RolloutView, record: dict[str, Any], why: str) -> RolloutDecision:
    record.update(phase="Succeeded", traffic=dict(view.target), message=f"promoted: {why}")
    for key in ("mirror", "stepCalls"):
        record.pop(key, None)
    decision = RolloutDecision(
        record,
        dict(view.target),
        events=[("RolloutSucceeded", f"{view.target} serves: {why}", False)],
        healthy=(cond.TRUE, "Promoted", f"{view.target} promoted: {why}"),
    )
    if _handing_over(view):
        record["phase"] = HANDING_OVER
        record["message"] = f"promoted: {why}; {_hand_over_message(view)}"
        # The reconciler gives the deployment(s) the new model on its next pass.
        decision.next_look = 1.0
    return decision


def _handing_over(view: RolloutView) -> bool:
    return any(live(view.target).get(ch["candidate"]) for ch in view.version_changes)


def _hand_over_message(view: RolloutView) -> str:
    moves = ", ".join(
        f"{ch['deployment']} takes version {ch['toVersion']} over from {ch['candidate']}"
        for ch in view.version_changes
    )
    return f"handing over: {moves}"


def _hand_over(view: RolloutView, record: dict[str, Any]) -> RolloutDecision:
    """After the promotion: the share of each candidate goes back to its deployment once
    the deployment's own pods run the new model."""
    candidates = [ch["candidate"] for ch in view.version_changes]
    waiting = sorted(
        n for n in candidates if live(view.target).get(n) and n not in view.handed_over
    )
    if waiting:
        record["message"] = f"{_hand_over_message(view)}; waiting for {', '.join(waiting)}"
        decision = _hold(record)
        decision.next_look = float(view.policy.interval_seconds)
        return decision
    back = {ch["candidate"]: ch["deployment"] for ch in view.version_changes}
    traffic: dict[str, int] = {}
    for name, share in live(view.target).items():
        traffic[back.get(name, name)] = traffic.get(back.get(name, name), 0) + share
    moved = ", ".join(
        f"{ch['deployment']} serves version {ch['toVersion']}" for ch in view.version_changes
    )
    record.update(
        phase="Succeeded",
        targetHash=view.final_hash or record.get("targetHash"),
        target=traffic,
        traffic=traffic,
        message=f"handed over: {moved}",
    )
    return RolloutDecision(
        record, traffic, events=[("RolloutHandedOver", record["message"], False)]
    )


def _roll_back(view: RolloutView, record: dict[str, Any], reason: str, why: str) -> RolloutDecision:
    stable = dict(record.get("stable") or view.applied)
    message = f"rolled back to {stable}: {why}"
    record.update(
        phase="RolledBack" if reason == "GateFailed" else "Aborted",
        traffic=stable,
        message=message,
        rolledBack={
            "targetHash": view.target_hash,
            "generation": view.generation,
            "reason": reason,
            "message": why,
            "time": cond.format_time(view.now),
        },
    )
    for key in ("mirror", "stepCalls"):
        record.pop(key, None)
    return RolloutDecision(
        record,
        stable,
        events=[("RolloutRolledBack", f"{view.target} {message}", True)],
        healthy=(cond.FALSE, reason, message),
    )
