"""An endpoint's progressive rollout (run by its reconcile): read counters, decide, report.

The pure decisions are in ../rollout.py. This part reads the scoring pods' call counters
(``GET /monitoring/requests`` through the API server's pod proxy) when a decision needs
them, emits the decision's Events and sets the RolloutHealthy condition. It writes only
status and Events: the split it decides goes to the routers, never into the spec.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from modelserve_api import EndpointDeployment, OnlineEndpoint
from modelserve_api import conditions as cond
from modelserve_api import constants as c
from modelserve_api.rollout import RolloutGate, RolloutPolicy

from ..builders.shadow import shadow_collector_name, wants_shadow_collector
from ..kube import Kube
from ..rollout import (
    HANDING_OVER,
    HELD,
    IN_FLIGHT,
    ROLLOUT_HEALTHY,
    Readings,
    RolloutDecision,
    RolloutView,
    decide,
    live,
    target_hash,
)
from ..version_change import VersionChange
from .monitoring import FetchCallCounts, fetch_call_counts_through_pod_proxy

log = logging.getLogger(__name__)
# (namespace, endpoint) -> the endpoint's shadow collector's GET /shadow (docs/shadow.md)
FetchShadow = Callable[[str, str], dict[str, Any]]
CONTROLS = ("promote", "pause", "resume", "abort")


class EndpointRollout:
    """Runs the rollout part of an endpoint's reconcile."""

    def __init__(
        self,
        kube: Kube,
        fetch_call_counts: FetchCallCounts | None = None,
        fetch_shadow: FetchShadow | None = None,
    ) -> None:
        self.kube = kube
        # Seams: tests feed counters through them where no real pod can answer.
        self.fetch_call_counts = fetch_call_counts or fetch_call_counts_through_pod_proxy(kube)
        self.fetch_shadow = fetch_shadow or fetch_shadow_through_service_proxy(kube)

    def target(
        self,
        body: dict[str, Any],
        endpoint: OnlineEndpoint,
        candidate: tuple[EndpointDeployment, str] | None = None,
        changes: tuple[VersionChange, ...] = (),
    ) -> tuple[dict[str, int], str, str]:
        """(the split the rollout moves to, its hash, the hash of spec.traffic itself).

        `candidate` is a retrained version served from status and the deployment it
        replaces; `changes` are deployments whose model changed in place. Each candidate
        is given its deployment's share of spec.traffic.
        """
        spec_deployments = {d["name"]: d for d in (body.get("spec") or {}).get("deployments") or []}
        spec_target = live(endpoint.spec.traffic)
        deployments = dict(spec_deployments)
        target = dict(spec_target)
        moves = [(ch.candidate, ch.deployment, ch.wanted.sha256) for ch in changes]
        if candidate is not None:
            moves.append((candidate[0].name, candidate[1], ""))
            deployments[candidate[0].name] = candidate[0].to_wire()
        for new, old, sha256 in moves:
            if new not in deployments:
                # The digest is part of the target: a followed alias moving again keeps
                # the same spec entry but is a new target (and a rolled-back one is retried).
                deployments[new] = {**spec_deployments.get(old, {}), "name": new, "sha256": sha256}
            if target.get(old):
                target = live({**target, new: target[old], old: 0})
        return target, target_hash(target, deployments), target_hash(spec_target, spec_deployments)

    def decide(
        self,
        body: dict[str, Any],
        endpoint: OnlineEndpoint,
        ready: dict[str, bool],
        now: dt.datetime,
        candidate: tuple[EndpointDeployment, str] | None = None,
        changes: tuple[VersionChange, ...] = (),
        handed_over: frozenset[str] = frozenset(),
    ) -> RolloutDecision | None:
        """The split the routers should get now, or None without a rollout policy.

        `handed_over` names the candidates of `changes` whose deployment's own pods now run
        the new model (after the promotion).
        """
        policy = endpoint.spec.rollout
        if policy is None and candidate is not None:
            policy = promotion_policy(endpoint)
        if policy is None:
            return None
        meta = endpoint.metadata
        old_status = body.get("status") or {}
        target, hashed, final_hash = self.target(body, endpoint, candidate, changes)
        control = (meta.annotations or {}).get(c.ANNOTATION_ROLLOUT)
        if control not in CONTROLS:
            if control:
                log.info("%s/%s: ignoring rollout control %r", meta.namespace, meta.name, control)
            control = None
        view = RolloutView(
            policy=policy,
            target=target,
            target_hash=hashed,
            generation=meta.generation,
            applied=live(old_status.get("traffic") or {}),
            record=dict(old_status.get("rollout") or {}),
            ready=ready,
            deployments=frozenset(d.name for d in endpoint.spec.deployments),
            control=control,
            now=now,
            read_shadow=(
                (lambda: self.fetch_shadow(meta.namespace, meta.name))
                if wants_shadow_collector(endpoint)
                else None
            ),
            version_changes=tuple(ch.status() for ch in changes),
            handed_over=handed_over,
            final_hash=final_hash,
        )

        def read(names: list[str]) -> Readings:
            return {n: self.fetch_call_counts(meta.namespace, meta.name, n) for n in names}

        decision = decide(view, read)
        for reason, message, warning in decision.events:
            self.kube.emit_event(
                body,
                reason=reason,
                message=message[:1024],
                event_type="Warning" if warning else "Normal",
            )
        if decision.phase in IN_FLIGHT and decision.next_look is None:
            decision.next_look = float(policy.interval_seconds)
        return decision

    @staticmethod
    def conditions(
        conditions: list[dict[str, Any]] | None,
        decision: RolloutDecision | None,
        generation: int | None,
        now: dt.datetime,
    ) -> list[dict[str, Any]]:
        """`conditions` with RolloutHealthy as the decision says (removed without a policy)."""
        current = list(conditions or [])
        if decision is None:
            return [x for x in current if x.get("type") != ROLLOUT_HEALTHY]
        if decision.healthy is None:
            return current
        status, reason, message = decision.healthy
        return cond.set_condition(
            current, ROLLOUT_HEALTHY, status, reason, message[:1024], generation, now
        )


def fetch_shadow_through_service_proxy(kube: Kube) -> FetchShadow:
    """Read GET /shadow of the endpoint's collector through the API server's service proxy."""

    def fetch(namespace: str, endpoint: str) -> dict[str, Any]:
        name = shadow_collector_name(endpoint)
        return kube.service_proxy_get(namespace, name, c.SHADOW_COLLECTOR_PORT, "shadow")

    return fetch


def promotion_policy(endpoint: OnlineEndpoint) -> RolloutPolicy:
    """The rollout of a retrained candidate on an endpoint without spec.rollout.

    As automatic promotion always stepped: monitoring's steps and interval, any call
    answered is enough, and one 5xx sends the traffic back.
    """
    monitoring = endpoint.spec.monitoring
    steps = monitoring.retrain.steps if monitoring.retrain is not None else [100]
    return RolloutPolicy(
        strategy="canary",
        steps=list(steps),
        interval_seconds=monitoring.interval_seconds,
        min_calls=1,
        gates=[RolloutGate(metric="successRate", min=1.0)],
        failed_checks_tolerated=0,
    )


def kept_rollback(old_status: dict[str, Any], generation: int | None) -> dict[str, Any] | None:
    """A rollback recorded for this generation, kept in status though no rollout runs now.

    A retrained candidate's rollout ends with the candidate: its rollback (and the
    RolloutHealthy condition naming the gate) stays visible until the spec changes.
    """
    record = old_status.get("rollout") or {}
    if record.get("phase") in HELD and record.get("targetGeneration") == generation:
        return record
    return None


def rollout_summary(decision: RolloutDecision | None) -> cond.Summary | None:
    """What the endpoint's summary says about the rollout (None: nothing to add)."""
    if decision is None:
        return None
    message = decision.record.get("message") or ""
    phase = decision.phase
    if phase == "Progressing":
        return cond.progressing("RolloutInProgress", message)
    if phase == "Paused":
        return cond.progressing("RolloutPaused", message)
    if phase == "AwaitingPromotion":
        return cond.progressing("AwaitingPromotion", message)
    if phase == HANDING_OVER:
        return cond.progressing("RolloutHandingOver", message)
    if phase == "RolledBack":
        return cond.failed("RolledBack", message)
    if phase == "Aborted":
        return cond.failed("Aborted", message)
    return None
