"""Reconcile an OnlineEndpoint: apply children, move traffic only to Ready pods, report status."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from modelserve_api import (
    EndpointDeployment,
    Model,
    OnlineEndpoint,
    SpecError,
    parse_model,
    parse_online_endpoint,
)
from modelserve_api import conditions as cond
from modelserve_api import constants as c

from ..builders import (
    BuilderSettings,
    applied_traffic,
    build_hpa,
    build_keys_secret,
    build_pdb,
    build_router_configmap,
    build_router_deployment,
    build_router_pdb,
    build_router_service,
    build_scoring_deployment,
    build_scoring_service,
    child_name,
    owner_reference,
    router_config_hash,
    scoring_uri,
    shadow,
    with_owner,
)
from ..builders import network_policy as netpol
from ..builders.common import keys_secret_name
from ..builders.pinning import inputs_digest, pin_data, pin_template, refresh_token
from ..builders.router import PRIMARY_KEY, SECONDARY_KEY, router_request_timeout_ms
from ..builders.router_config import Backend, RouterConfig, render_key_map, render_nginx_config
from ..builders.scoring import scoring_template_inputs
from ..builders.shadow import wants_shadow_collector
from ..kube import Kube
from ..resolved import ResolvedModel
from ..rollout import HANDING_OVER, HELD, IN_FLIGHT, RolloutDecision
from ..version_change import VersionChange, plan_change, served_model
from .applied import AppliedChildren, child_key
from .model_resolution import ModelNotResolved, resolve_model
from .monitoring import EndpointMonitor, FetchCallCounts, FetchMonitoring
from .observed import DeploymentObservation, knows_terminating, observe_deployment
from .rollout import EndpointRollout, kept_rollback, rollout_summary
from .runtime_report import FetchMetadata, RuntimeReporter
from .status import owned_by, write_status

log = logging.getLogger(__name__)
# How soon an in-place change's next step is looked at (hand-over, candidate removal).
FOLLOW_UP_SECONDS = 2.0

# Kinds of the per-deployment children, for pruning the ones the spec no longer wants.
_SCORING_CHILD_KINDS = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
)


@dataclass(frozen=True)
class EndpointOutcome:
    """What one reconcile concluded (also handy for tests and metrics)."""

    status: dict[str, Any]
    summary: cond.Summary
    # When monitoring wants the next look (nothing else would trigger it).
    retry_after: float | None = None


def _model_of(target: ResolvedModel, models: list[Model]) -> Model | None:
    """The Model object a resolved reference came from."""
    return next(
        (
            m
            for m in models
            if m.spec.model_name == target.model_name and m.spec.version == target.version
        ),
        None,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OnlineEndpointReconciler:
    """Builds, applies and observes everything one OnlineEndpoint needs."""

    def __init__(
        self,
        kube: Kube,
        settings: BuilderSettings,
        reapply_after: float = 120.0,
        fetch_monitoring: FetchMonitoring | None = None,
        fetch_metadata: FetchMetadata | None = None,
        fetch_call_counts: FetchCallCounts | None = None,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.monitor = EndpointMonitor(kube, fetch_monitoring)
        # Progressive delivery of spec.traffic (spec.rollout): decides the split, in status.
        self.rollout = EndpointRollout(kube, fetch_call_counts)
        # Which runtime (ONNX Runtime or scikit-learn) the pods chose, for the Model status.
        self.runtimes = RuntimeReporter(kube, fetch_metadata)
        # Fed by the watch (handlers): lets a reconcile skip children nobody changed.
        self.children = AppliedChildren(max_age=reapply_after)
        # (namespace, name) -> (uid, generation) of the spec last pruned against: only a
        # new spec can make a child unwanted, and pruning lists four kinds.
        self._pruned: dict[tuple[str, str], tuple[str, int]] = {}

    def reconcile(self, namespace: str, name: str) -> EndpointOutcome | None:
        """Bring the endpoint's children to the desired state; None if the endpoint is gone."""
        body = self.kube.get(c.API_VERSION, c.KIND_ONLINE_ENDPOINT, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            self._pruned.pop((namespace, name), None)
            self.children.forget(namespace, name)
            return None
        generation = body["metadata"].get("generation")
        old_status = body.get("status") or {}
        try:
            endpoint = parse_online_endpoint(body)
        except SpecError as error:
            summary = cond.failed("InvalidSpec", str(error))
            status = {"observedGeneration": generation}
            return self._write_status(body, old_status, status, summary)

        models = self._models(namespace)
        # A retrained version automatic promotion serves from status (never from the spec):
        # built, observed and routed like the spec's deployments.
        candidate = self.monitor.candidate(body, endpoint)
        if candidate is not None:
            endpoint = _with_deployment(endpoint, candidate[0])
        owner = owner_reference(body)
        # Before any pod: a new scoring pod is never reachable except through the router.
        self._apply_network_policies(owner, endpoint)
        unresolved: dict[str, str] = {}
        services: dict[str, dict[str, Any]] = {}
        model_versions: dict[str, str] = {}
        resolved: dict[str, ResolvedModel] = {}
        record = old_status.get("rollout") or {}
        # In-place model changes, stepped by spec.rollout (version_change.py); a retrained
        # candidate's promotion is stepped on its own and does not mix with them.
        stepping = candidate is None and _steps_model_changes(endpoint)
        # What the routers send each deployment now (status.traffic, zero shares left out).
        applied_shares = _live_share(old_status.get("traffic") or {})
        serving_shares = _serving_shares(applied_shares, record)
        changes: list[VersionChange] = []
        for deployment in endpoint.spec.deployments:
            try:
                model = resolve_model(deployment.model, models)
            except ModelNotResolved as error:
                # Leave whatever already runs for this deployment alone: it keeps serving.
                unresolved[deployment.name] = str(error)
                live = self.kube.get("v1", "Service", namespace, child_name(name, deployment.name))
                if live is not None:
                    services[deployment.name] = live
                continue
            model_versions[deployment.name] = model.version
            resolved[deployment.name] = model
            scoring = self._scoring_deployment(body, endpoint, deployment, model)
            live = self._live(scoring) if stepping else None
            change = None
            if live is not None:
                change = plan_change(
                    deployment.name,
                    live,
                    scoring,
                    serving_shares.get(deployment.name, 0) > 0
                    and endpoint.spec.traffic.get(deployment.name, 0) > 0,
                    record,
                    {d.name for d in endpoint.spec.deployments} | {ch.candidate for ch in changes},
                    model.registry_version,
                )
            if change is not None:
                changes.append(change)
                model_versions[deployment.name] = change.serving.version
            handing_over = (
                change is not None
                and record.get("phase") == HANDING_OVER
                and not applied_shares.get(deployment.name)
            )
            if change is None or handing_over:
                # During a change the pods keep the model they serve until the hand-over,
                # which starts once the routers send them nothing.
                self._apply(owner, scoring)
            services[deployment.name] = self._apply_scoring_extras(
                owner, endpoint, deployment, model
            )
        if changes:
            _, hashed, _ = self.rollout.target(body, endpoint, changes=tuple(changes))
            if not (record.get("phase") in HELD and record.get("targetHash") == hashed):
                # A rolled-back change keeps no candidate: the old pods serve on alone.
                for change in changes:
                    new = endpoint.spec.deployment(change.deployment)
                    assert new is not None
                    new = new.model_copy(update={"name": change.candidate})
                    endpoint = _with_deployment(endpoint, new)
                    model = resolved[change.deployment]
                    resolved[new.name] = model
                    model_versions[new.name] = model.version
                    self._apply(owner, self._scoring_deployment(body, endpoint, new, model))
                    services[new.name] = self._apply_scoring_extras(owner, endpoint, new, model)
        # A candidate the routers may still send to stays until status.traffic drops it.
        served = {d.name for d in endpoint.spec.deployments}
        routed_candidates = {
            str(entry["candidate"])
            for entry in record.get("versionChanges") or []
            if applied_shares.get(str(entry.get("candidate")))
        } - served
        pruned_for = (
            body["metadata"]["uid"],
            generation,
            candidate[0].name if candidate else None,
            tuple(sorted(served | routed_candidates)),
        )
        if self._pruned.get((namespace, name)) != pruned_for:
            self._prune(endpoint, routed_candidates)
            self._pruned[(namespace, name)] = pruned_for

        observations: dict[str, DeploymentObservation] = {}
        handed_over: set[str] = set()
        changing = {ch.deployment: ch for ch in changes}
        for d in endpoint.spec.deployments:
            live = self.kube.get("apps/v1", "Deployment", namespace, child_name(name, d.name))
            observations[d.name] = self._observe_live(namespace, live)
            change = changing.get(d.name)
            if (
                change is not None
                and observations[d.name].rolled_out
                and served_model(live) == change.wanted
            ):
                handed_over.add(change.candidate)
        candidates = {ch.candidate for ch in changes}
        # A candidate takes traffic only once all its pods run the new model.
        ready = {
            n: o.serving and (o.rolled_out or n not in candidates) for n, o in observations.items()
        }
        self._report_runtimes(endpoint, resolved, models, ready)
        self._report_refusals(endpoint, resolved, models, observations)
        requested = dict(endpoint.spec.traffic)
        previous = dict(old_status.get("traffic") or {})
        now = _now()
        # With spec.rollout, the routers get the rollout's step, not spec.traffic itself.
        rollout = self.rollout.decide(
            body, endpoint, ready, now, candidate, tuple(changes), frozenset(handed_over)
        )
        if rollout is not None:
            requested = rollout.traffic
        traffic, waiting_reason = applied_traffic(requested, previous, ready)
        mirror = self._applied_mirror(endpoint, ready, rollout)

        router_ready = self._apply_router(
            owner, endpoint, services, traffic, mirror, refresh_token(body)
        )
        summary = self._summarize(
            endpoint, observations, unresolved, waiting_reason, router_ready, traffic, mirror
        )
        if summary.state == "ready":
            summary = rollout_summary(rollout) or summary
        status = {
            "observedGeneration": generation,
            "scoringUri": scoring_uri(endpoint),
            # What callers get: the new split only once no router with the old one is left.
            "traffic": traffic if router_ready else _live_share(previous),
            "mirrorTraffic": dict([mirror]) if mirror else {},
            "deployments": [
                {
                    "name": d.name,
                    "modelVersion": model_versions.get(d.name),
                    **({} if d.name in changing else _registry_version(resolved.get(d.name))),
                    "replicas": observations[d.name].desired,
                    "readyReplicas": observations[d.name].ready,
                    "ready": observations[d.name].rolled_out,
                }
                for d in endpoint.spec.deployments
            ],
        }
        kept = kept_rollback(old_status, generation) if rollout is None else None
        if rollout is not None:
            status["rollout"] = rollout.record
        elif old_status.get("rollout") and kept is None:
            status["rollout"] = None
        # Drift and performance never change the summary: the endpoint keeps serving.
        try:
            retry_after = self.monitor.run(
                body,
                endpoint,
                models,
                status,
                {n: o.rolled_out for n, o in observations.items()},
                now,
            )
        except Exception as error:  # a failed check must not hold the endpoint's status back
            log.warning("monitoring of %s/%s failed: %s", namespace, name, error)
            retry_after = float(endpoint.spec.monitoring.interval_seconds)
        if kept is None and (
            rollout is not None
            or cond.find_condition(old_status.get("conditions") or [], "RolloutHealthy")
        ):
            status["conditions"] = self.rollout.conditions(
                status.get("conditions", old_status.get("conditions")), rollout, generation, now
            )
        if rollout is not None and rollout.next_look is not None:
            wait = max(1.0, rollout.next_look)
            retry_after = wait if retry_after is None else min(retry_after, wait)
        if _changes_follow_up(rollout, changes, served, routed_candidates):
            # The next step of a change (hand-over, removing a candidate) depends on this
            # status only: no child event would come to start it.
            retry_after = (
                FOLLOW_UP_SECONDS if retry_after is None else min(retry_after, FOLLOW_UP_SECONDS)
            )
        outcome = self._write_status(body, old_status, status, summary)
        return EndpointOutcome(outcome.status, outcome.summary, retry_after)

    # -- children -----------------------------------------------------------------

    def _scoring_deployment(
        self,
        body: dict[str, Any],
        endpoint: OnlineEndpoint,
        deployment: EndpointDeployment,
        model: ResolvedModel,
    ) -> dict[str, Any]:
        """A deployment's scoring Deployment, its template pinned while its inputs hold."""
        scoring = build_scoring_deployment(endpoint, deployment, model, self.settings)
        template_inputs = scoring_template_inputs(deployment)
        # The collector's address reaches the pods' environment only with an agreement
        # gate: it counts then (adding or dropping the gate rebuilds the pods), and
        # leaves the digest of every other endpoint as it was.
        shipping = ["shadow-collector"] if wants_shadow_collector(endpoint) else []
        name = endpoint.metadata.name
        digest = inputs_digest(name, template_inputs, model, refresh_token(body), *shipping)
        return pin_template(scoring, digest, self._live(scoring))

    def _apply_scoring_extras(
        self,
        owner: dict[str, Any],
        endpoint: OnlineEndpoint,
        deployment: EndpointDeployment,
        model: ResolvedModel,
    ) -> dict[str, Any]:
        """Apply a deployment's Service, PodDisruptionBudget and HPA; returns the Service."""
        service = self._apply(owner, build_scoring_service(endpoint, deployment, model))
        self._apply(owner, build_pdb(endpoint, deployment, model))
        hpa = build_hpa(endpoint, deployment, model)
        if hpa is not None:
            self._apply(owner, hpa)
        return service

    def _apply(
        self, owner: dict[str, Any], manifest: dict[str, Any], need_status: bool = False
    ) -> dict[str, Any]:
        """Apply a child unless it is as last applied; `need_status` reads its live status."""
        desired = with_owner(manifest, owner)
        unchanged = self.children.unchanged(desired)
        if unchanged is not None:
            if not need_status:
                return unchanged
            live = self.kube.get(*child_key(desired))
            if live is not None:
                return live
        applied = self.kube.apply(desired)
        self.children.applied(desired, applied)
        return applied

    def _apply_network_policies(self, owner: dict[str, Any], endpoint: OnlineEndpoint) -> None:
        network = self.settings.network
        if network.enabled:
            self._apply(owner, netpol.build_scoring_network_policy(endpoint, network))
            self._apply(owner, netpol.build_router_network_policy(endpoint))

    def _apply_shadow_collector(self, owner: dict[str, Any], endpoint: OnlineEndpoint) -> None:
        """The collector runs while the rollout has an agreement gate."""
        if wants_shadow_collector(endpoint):
            self._apply(owner, shadow.build_shadow_collector_service(endpoint))
            if self.settings.network.enabled:
                network = self.settings.network
                self._apply(owner, shadow.build_shadow_collector_network_policy(endpoint, network))
            self._apply(owner, shadow.build_shadow_collector_deployment(endpoint, self.settings))

    def _delete_shadow_collector(self, endpoint: OnlineEndpoint) -> None:
        """Remove the collector once the spec has no agreement gate (checked on a new spec
        only, by `_prune`: three reads per reconcile of every endpoint would be wasted)."""
        meta = endpoint.metadata
        name = shadow.shadow_collector_name(meta.name)
        for api_version, kind in (
            ("apps/v1", "Deployment"),
            ("v1", "Service"),
            (netpol.API_VERSION, netpol.KIND),
        ):
            live = self.kube.get(api_version, kind, meta.namespace, name)
            if live is not None and owned_by(live, meta.uid):
                self.kube.delete(api_version, kind, meta.namespace, name)

    def _delete_network_policies(self, endpoint: OnlineEndpoint) -> None:
        """Remove this endpoint's policies once the operator is told to make none."""
        meta = endpoint.metadata
        for name in (
            netpol.scoring_policy_name(meta.name),
            netpol.router_policy_name(meta.name),
        ):
            live = self.kube.get(netpol.API_VERSION, netpol.KIND, meta.namespace, name)
            if live is not None and owned_by(live, meta.uid):
                self.kube.delete(netpol.API_VERSION, netpol.KIND, meta.namespace, name)

    def _live(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """The child as it is now: as last applied if nobody changed it since, else read."""
        key = child_key(manifest)
        return self.children.current(*key) or self.kube.get(*key)

    def _models(self, namespace: str) -> list[Model]:
        models = []
        for body in self.kube.list(c.API_VERSION, c.KIND_MODEL, namespace):
            try:
                models.append(parse_model(body))
            except SpecError as error:
                log.warning("ignoring Model %s: %s", body["metadata"]["name"], error)
        return models

    def _prune(self, endpoint: OnlineEndpoint, keep: set[str]) -> None:
        """Delete per-deployment children the spec no longer asks for (but those in `keep`)."""
        meta = endpoint.metadata
        wanted = {d.name for d in endpoint.spec.deployments} | keep
        autoscaled = {d.name for d in endpoint.spec.deployments if d.autoscale is not None}
        selector = f"{c.LABEL_ENDPOINT}={meta.name},{c.LABEL_COMPONENT}={c.COMPONENT_SCORING}"
        for api_version, kind in _SCORING_CHILD_KINDS:
            for child in self.kube.list(api_version, kind, meta.namespace, selector):
                deployment = child["metadata"].get("labels", {}).get(c.LABEL_DEPLOYMENT)
                stale = deployment not in wanted or (
                    kind == "HorizontalPodAutoscaler" and deployment not in autoscaled
                )
                if stale and owned_by(child, meta.uid):
                    self.kube.delete(api_version, kind, meta.namespace, child["metadata"]["name"])
        if not self.settings.network.enabled:
            self._delete_network_policies(endpoint)
        if not wants_shadow_collector(endpoint):
            self._delete_shadow_collector(endpoint)

    def _observe_live(self, namespace: str, live: dict[str, Any] | None) -> DeploymentObservation:
        """Observe a live Deployment, listing its pods only when they say more than it does."""
        if live is None:
            return observe_deployment(None, [])
        observation = observe_deployment(live, [])
        if observation.rolled_out and knows_terminating(live):
            return observation
        # A deployment that is not fine (the reason lives in its pods), or an API server
        # that does not count terminating pods in the Deployment's status.
        labels = live["spec"]["selector"].get("matchLabels", {})
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        return observe_deployment(live, self.kube.list("v1", "Pod", namespace, selector))

    def _report_runtimes(
        self,
        endpoint: OnlineEndpoint,
        resolved: dict[str, ResolvedModel],
        models: list[Model],
        serving: dict[str, bool],
    ) -> None:
        """Copy the runtime a serving deployment's pods chose into its Model's status."""
        meta = endpoint.metadata
        for deployment in endpoint.spec.deployments:
            target = resolved.get(deployment.name)
            if target is None or not serving.get(deployment.name):
                continue
            model = _model_of(target, models)
            requested = deployment.runtime or target.runtime
            if model is None:
                continue
            selector = (
                f"{c.LABEL_ENDPOINT}={meta.name},{c.LABEL_DEPLOYMENT}={deployment.name},"
                f"{c.LABEL_COMPONENT}={c.COMPONENT_SCORING}"
            )
            self.runtimes.request(model, requested, selector, f"{meta.name}/{deployment.name}")

    def _report_refusals(
        self,
        endpoint: OnlineEndpoint,
        resolved: dict[str, ResolvedModel],
        models: list[Model],
        observations: dict[str, DeploymentObservation],
    ) -> None:
        """Record on a Model that a deployment's pods refuse to load it, so it turns Degraded."""
        for deployment in endpoint.spec.deployments:
            target = resolved.get(deployment.name)
            observation = observations.get(deployment.name)
            if target is None or observation is None or observation.load_refusal is None:
                continue
            model = _model_of(target, models)
            if model is not None:
                reported_by = f"{endpoint.metadata.name}/{deployment.name}"
                self.runtimes.record_refusal(model, observation.load_refusal, reported_by)

    def _applied_mirror(
        self, endpoint: OnlineEndpoint, ready: dict[str, bool], rollout: RolloutDecision | None
    ) -> tuple[str, int] | None:
        if rollout is not None and rollout.mirror is not None:
            # A blue-green rollout's shadow step: its copy replaces spec.mirrorTraffic.
            name, percent = rollout.mirror
            return (name, percent) if ready.get(name, False) else None
        for name, percent in endpoint.spec.mirror_traffic.items():
            if percent > 0 and ready.get(name, False):
                return name, percent
        return None

    def _keys(self, endpoint: OnlineEndpoint) -> tuple[str, str]:
        """The endpoint's keys: kept once generated, so clients are not locked out."""
        meta = endpoint.metadata
        secret = ("v1", "Secret", meta.namespace, keys_secret_name(meta.name))
        live = self.children.current(*secret) or self.kube.get(*secret)
        data = (live or {}).get("data") or {}
        if PRIMARY_KEY in data and SECONDARY_KEY in data:
            return (
                base64.b64decode(data[PRIMARY_KEY]).decode(),
                base64.b64decode(data[SECONDARY_KEY]).decode(),
            )
        return secrets.token_urlsafe(32), secrets.token_urlsafe(32)

    def _apply_router(
        self,
        owner: dict[str, Any],
        endpoint: OnlineEndpoint,
        services: dict[str, dict[str, Any]],
        traffic: dict[str, int],
        mirror: tuple[str, int] | None,
        refresh: str,
    ) -> bool:
        """Apply the router's config, keys, Deployment and Service; True when it serves."""
        meta = endpoint.metadata
        backends = []
        for deployment in endpoint.spec.deployments:
            service = services.get(deployment.name)
            cluster_ip = (service or {}).get("spec", {}).get("clusterIP")
            if not cluster_ip or cluster_ip == "None":
                continue
            backends.append(
                Backend(
                    name=deployment.name,
                    address=f"{cluster_ip}:{c.SCORING_SERVICE_PORT}",
                    weight=traffic.get(deployment.name, 0),
                )
            )
        config = RouterConfig(
            endpoint=meta.name,
            backends=tuple(backends),
            mirror=mirror if mirror and any(b.name == mirror[0] for b in backends) else None,
            auth_mode=endpoint.spec.auth_mode,
            request_timeout_ms=router_request_timeout_ms(endpoint),
            feedback_collector=(
                shadow.shadow_collector_address(endpoint)
                if wants_shadow_collector(endpoint)
                else None
            ),
        )
        keys = self._keys(endpoint) if endpoint.spec.auth_mode == "key" else None
        # What the router's files and pods are built from; while it holds, an operator
        # upgrade keeps the files and template it finds (builders/pinning.py).
        digest = inputs_digest(config, keys, refresh)
        configmap = build_router_configmap(endpoint, render_nginx_config(config))
        configmap = pin_data(configmap, digest, self._live(configmap))
        nginx_conf = configmap["data"][c.ROUTER_CONFIG_FILE]
        keys_conf = ""
        if keys is not None:
            secret = build_keys_secret(endpoint, *keys, render_key_map(list(keys)))
            secret = pin_data(secret, digest, self._live(secret))
            keys_conf = base64.b64decode(secret["data"][c.NGINX_KEYS_FILE]).decode()
            self._apply(owner, secret)
        self._apply(owner, configmap)
        self._apply(owner, build_router_service(endpoint))
        self._apply(owner, build_router_pdb(endpoint))
        self._apply_shadow_collector(owner, endpoint)
        if self._router_can_wait(endpoint, traffic):
            return False
        router = build_router_deployment(
            endpoint, router_config_hash(nginx_conf, keys_conf), self.settings
        )
        router = self._apply(
            owner, pin_template(router, digest, self._live(router)), need_status=True
        )
        # Rolled out only once the old router pods are gone, not just replaced: until then
        # they answer their open connections with the previous split.
        return self._observe_live(meta.namespace, router).rolled_out

    def _router_can_wait(self, endpoint: OnlineEndpoint, traffic: dict[str, int]) -> bool:
        """A new endpoint's router starts once traffic is first applied, not before.

        Its configuration changes the moment the first deployment is Ready, and a new
        configuration means new router pods: starting it earlier would only roll it once
        more. Until then nothing could be served anyway.
        """
        asked = any(weight > 0 for weight in endpoint.spec.traffic.values())
        if not asked or any(weight > 0 for weight in traffic.values()):
            return False
        meta = endpoint.metadata
        router = ("apps/v1", "Deployment", meta.namespace, meta.name)
        return (self.children.current(*router) or self.kube.get(*router)) is None

    # -- status -------------------------------------------------------------------

    def _summarize(
        self,
        endpoint: OnlineEndpoint,
        observations: dict[str, DeploymentObservation],
        unresolved: dict[str, str],
        waiting_reason: str | None,
        router_ready: bool,
        traffic: dict[str, int],
        mirror: tuple[str, int] | None,
    ) -> cond.Summary:
        failures = {n: o.failure for n, o in observations.items() if o.failure}
        if failures:
            detail = "; ".join(f"deployment {n}: {why}" for n, why in sorted(failures.items()))
            held = "; traffic was not moved" if waiting_reason else ""
            return cond.failed("DeploymentFailed", detail + held)
        if unresolved:
            detail = "; ".join(f"deployment {n}: {why}" for n, why in sorted(unresolved.items()))
            return cond.failed("ModelNotResolved", detail)
        unschedulable = {n: o.unschedulable for n, o in observations.items() if o.unschedulable}
        if unschedulable:
            # Said before "rolling out": a rollout waiting for room waits until someone acts.
            detail = "; ".join(f"deployment {n}: {why}" for n, why in sorted(unschedulable.items()))
            held = f"; traffic held at {traffic}" if waiting_reason else ""
            return cond.progressing("PodUnschedulable", detail + held)
        if waiting_reason:
            return cond.progressing(
                "TrafficPending", f"{waiting_reason}; traffic held at {traffic}"
            )
        rolling = sorted(n for n, o in observations.items() if not o.rolled_out)
        if rolling:
            return cond.progressing("RollingOut", f"deployment(s) {', '.join(rolling)} rolling out")
        if not router_ready:
            return cond.progressing("RouterRollingOut", "the router is rolling out")
        wanted_mirror = {k: v for k, v in endpoint.spec.mirror_traffic.items() if v > 0}
        if wanted_mirror and dict([mirror] if mirror else []) != wanted_mirror:
            return cond.progressing("MirrorPending", "the mirror deployment is not Ready yet")
        return cond.ready("Ready", f"serving traffic {traffic}")

    def _write_status(
        self,
        body: dict[str, Any],
        old_status: dict[str, Any],
        status: dict[str, Any],
        summary: cond.Summary,
    ) -> EndpointOutcome:
        write_status(self.kube, c.KIND_ONLINE_ENDPOINT, body, status, summary)
        return EndpointOutcome(status=status, summary=summary)


def _with_deployment(endpoint: OnlineEndpoint, deployment: EndpointDeployment) -> OnlineEndpoint:
    """The endpoint as served: its spec's deployments and one more (not written anywhere)."""
    spec = endpoint.spec.model_copy(
        update={"deployments": [*endpoint.spec.deployments, deployment]}
    )
    return endpoint.model_copy(update={"spec": spec})


def _changes_follow_up(
    rollout: RolloutDecision | None,
    changes: list[VersionChange],
    served: set[str],
    routed_candidates: set[str],
) -> bool:
    """Whether an in-place change needs a reconcile soon that nothing else would trigger."""
    if routed_candidates:
        return True  # a candidate waits for status.traffic to drop it
    if not changes or rollout is None:
        return False
    built = any(ch.candidate in served for ch in changes)
    return rollout.phase == HANDING_OVER or (built and rollout.phase in (*HELD, "Succeeded"))


def _steps_model_changes(endpoint: OnlineEndpoint) -> bool:
    """Whether a model changed in place is rolled out by spec.rollout's steps."""
    policy = endpoint.spec.rollout
    return policy is not None and policy.strategy != "immediate"


def _serving_shares(applied: dict[str, int], record: dict[str, Any]) -> dict[str, int]:
    """What each deployment serves now: status.traffic, and during a rollout its stable
    split too (a change in progress stays one while its deployment's share is moving)."""
    shares = dict(applied)
    if record.get("phase") in IN_FLIGHT:
        for name, share in _live_share(record.get("stable") or {}).items():
            shares[name] = max(shares.get(name, 0), share)
    return shares


def _live_share(traffic: dict[str, int]) -> dict[str, int]:
    """The split a status recorded, without zero shares."""
    return {name: share for name, share in traffic.items() if share > 0}


def _registry_version(model: ResolvedModel | None) -> dict[str, str]:
    """registryVersion of a deployment's status, for a Model from the MLflow registry."""
    if model is None or model.registry_version is None:
        return {}
    return {"registryVersion": model.registry_version}
