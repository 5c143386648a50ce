"""An endpoint's monitoring checks, retraining and automatic promotion (run by its reconcile).

The checks read ``GET /monitoring`` of one Ready scoring pod per serving deployment
through the API server's pod proxy, judge it (monitoring.py), set DataDrift and
PerformanceDegraded, and on a crossing register the next Model version. Promotion
patches the endpoint's spec.deployments and spec.traffic through the API, one step at
a time, each with an Event, so a GitOps tool shows the change instead of fighting a
silent rewrite.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelserve_api import Model, OnlineEndpoint, parse_model
from modelserve_api import conditions as cond
from modelserve_api import constants as c
from modelserve_api.kube import Conflict

from ..builders.retrain import (
    ANNOTATION_BASE_VERSION,
    LABEL_RETRAINED_FOR,
    build_promoted_deployment,
    build_retrained_model,
    promoted_deployment_name,
)
from ..kube import Kube, KubeError
from ..monitoring import (
    CANDIDATE_READY,
    MONITORING_CONDITIONS,
    DeploymentCheck,
    PromotionView,
    calls_since,
    check_deployment,
    monitoring_conditions,
    next_version,
    promotion_step,
    without_monitoring_conditions,
)

log = logging.getLogger(__name__)

# (namespace, endpoint, deployment) -> the body of that deployment's GET /monitoring.
FetchMonitoring = Callable[[str, str, str], dict[str, Any]]
# (namespace, endpoint, deployment) -> {pod: its GET /monitoring/requests} for every Ready pod.
FetchCallCounts = Callable[[str, str, str], dict[str, dict[str, int]]]
PROMOTION_FIELD_MANAGER = "modelserve-operator-promotion"
IN_FLIGHT = ("Training", "CandidateReady", "Promoting")
# While promoting, look again at least this often: a step may become due between checks.
PROMOTION_POLL_S = 5.0


class MonitoringUnavailable(Exception):
    """No scoring pod of a deployment could answer GET /monitoring."""


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _pod_ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(x.get("type") == "Ready" and x.get("status") == "True" for x in conditions)


def _ready_scoring_pods(kube: Kube, namespace: str, endpoint: str, deployment: str) -> list[str]:
    selector = (
        f"{c.LABEL_ENDPOINT}={endpoint},{c.LABEL_DEPLOYMENT}={deployment},"
        f"{c.LABEL_COMPONENT}={c.COMPONENT_SCORING}"
    )
    pods = kube.list("v1", "Pod", namespace, selector)
    return sorted(p["metadata"]["name"] for p in pods if _pod_ready(p))


def fetch_through_pod_proxy(kube: Kube) -> FetchMonitoring:
    """Read GET /monitoring of one Ready scoring pod of the deployment."""

    def fetch(namespace: str, endpoint: str, deployment: str) -> dict[str, Any]:
        pods = _ready_scoring_pods(kube, namespace, endpoint, deployment)
        if not pods:
            raise MonitoringUnavailable("no Ready scoring pod")
        errors = []
        for pod in pods:  # the first that answers
            try:
                return kube.pod_proxy_get(namespace, pod, c.SCORING_HTTP_PORT, "monitoring")
            except Exception as error:  # a pod going away, a timeout: try the next
                errors.append(f"pod {pod}: {error}")
        raise MonitoringUnavailable("; ".join(errors))

    return fetch


def fetch_call_counts_through_pod_proxy(kube: Kube) -> FetchCallCounts:
    """Read GET /monitoring/requests of every Ready scoring pod of the deployment."""

    def fetch(namespace: str, endpoint: str, deployment: str) -> dict[str, dict[str, int]]:
        pods = _ready_scoring_pods(kube, namespace, endpoint, deployment)
        if not pods:
            raise MonitoringUnavailable("no Ready scoring pod")
        # All or nothing: a pod left out could be the one answering with errors.
        return {
            pod: kube.pod_proxy_get(namespace, pod, c.SCORING_HTTP_PORT, "monitoring/requests")
            for pod in pods
        }

    return fetch


@dataclass
class _Check:
    """The state one monitoring pass works on (written back into the endpoint's status)."""

    body: dict[str, Any]
    endpoint: OnlineEndpoint
    models: list[Model]
    status: dict[str, Any]
    rolled_out: dict[str, bool]
    now: dt.datetime
    conditions: list[dict[str, Any]]
    retrain: dict[str, Any]

    @property
    def generation(self) -> int | None:
        return self.body["metadata"].get("generation")


def _retrained_for(model: Model | None, endpoint: str, base_version: str) -> bool:
    """Whether `model` is the retrained version this endpoint makes to replace `base_version`."""
    return (
        model is not None
        and model.metadata.labels.get(LABEL_RETRAINED_FOR) == endpoint
        and model.metadata.annotations.get(ANNOTATION_BASE_VERSION) == base_version
    )


class EndpointMonitor:
    """Runs the monitoring part of an endpoint's reconcile."""

    def __init__(
        self,
        kube: Kube,
        fetch_monitoring: FetchMonitoring | None = None,
        fetch_call_counts: FetchCallCounts | None = None,
    ) -> None:
        self.kube = kube
        # Seams: tests feed verdicts through them where no real scoring pod can answer.
        self.fetch_monitoring = fetch_monitoring or fetch_through_pod_proxy(kube)
        self.fetch_call_counts = fetch_call_counts or fetch_call_counts_through_pod_proxy(kube)

    def run(
        self,
        body: dict[str, Any],
        endpoint: OnlineEndpoint,
        models: list[Model],
        status: dict[str, Any],
        rolled_out: dict[str, bool],
        now: dt.datetime,
    ) -> float | None:
        """Add monitoring conditions and status.monitoring to `status`; seconds to the next look."""
        old_status = body.get("status") or {}
        old_monitoring = old_status.get("monitoring") or {}
        settings = endpoint.spec.monitoring
        if not settings.enabled:
            if old_monitoring or any(
                x.get("type") in MONITORING_CONDITIONS for x in old_status.get("conditions") or []
            ):
                status["monitoring"] = None
                status["conditions"] = without_monitoring_conditions(old_status.get("conditions"))
            return None
        check = _Check(
            body=body,
            endpoint=endpoint,
            models=models,
            status=status,
            rolled_out=rolled_out,
            now=now,
            conditions=list(old_status.get("conditions") or []),
            retrain=dict(old_monitoring.get("retrain") or {}),
        )
        monitoring = dict(old_monitoring)
        interval = float(settings.interval_seconds)
        last = _parse_time(old_monitoring.get("lastCheckTime"))
        due = last is None or (now - last).total_seconds() >= interval
        if due:
            checks = self._check_deployments(check)
            monitoring["lastCheckTime"] = cond.format_time(now)
            monitoring["deployments"] = [x.status() for x in checks]
            self._judge(check, checks)
            next_check = interval
        else:
            next_check = interval - (now - last).total_seconds()
        if settings.retrain is not None:
            self._advance_retrain(check)
        if check.retrain:
            monitoring["retrain"] = check.retrain
        status["monitoring"] = monitoring
        status["conditions"] = check.conditions
        if check.retrain.get("state") == "Promoting":
            return max(1.0, min(next_check, PROMOTION_POLL_S))
        return max(1.0, next_check)

    # -- checks -------------------------------------------------------------------

    def _check_deployments(self, check: _Check) -> list[DeploymentCheck]:
        meta = check.endpoint.metadata
        settings = check.endpoint.spec.monitoring
        serving = sorted(n for n, p in (check.status.get("traffic") or {}).items() if p > 0)
        results = []
        for name in serving:
            try:
                response = self.fetch_monitoring(meta.namespace, meta.name, name)
                results.append(
                    check_deployment(name, response, settings.drift, settings.performance)
                )
            except Exception as error:  # one deployment unreadable: the others still count
                log.info("monitoring of %s/%s %s: %s", meta.namespace, meta.name, name, error)
                results.append(DeploymentCheck(deployment=name, error=f"not checked: {error}"))
        return results

    def _judge(self, check: _Check, checks: list[DeploymentCheck]) -> None:
        check.conditions, changes = monitoring_conditions(
            check.conditions, checks, check.generation, check.now
        )
        crossed = [x for x in changes if x.status == cond.TRUE]
        for change in changes:
            self._event(
                check,
                change.reason,
                f"{change.type} is {change.status}: {change.message}",
                warning=change.status == cond.TRUE,
            )
        retrain = check.endpoint.spec.monitoring.retrain
        if crossed and retrain is not None and check.retrain.get("state") not in IN_FLIGHT:
            why = "; ".join(f"{x.type}: {x.message}" for x in crossed)
            self._start_retrain(check, why)

    # -- retraining ---------------------------------------------------------------

    def _serving(self, check: _Check) -> tuple[str, str, str] | None:
        """(deployment, modelName, version) of the deployment with the most traffic."""
        traffic = check.status.get("traffic") or {}
        versions = {d["name"]: d.get("modelVersion") for d in check.status.get("deployments", [])}
        ranked = sorted(((p, n) for n, p in traffic.items() if p > 0), reverse=True)
        for _, name in ranked:
            deployment = check.endpoint.spec.deployment(name)
            if deployment is not None and versions.get(name):
                return name, deployment.model.name, str(versions[name])
        return None

    def _start_retrain(self, check: _Check, why: str) -> None:
        retrain = check.endpoint.spec.monitoring.retrain
        assert retrain is not None
        meta = check.endpoint.metadata
        serving = self._serving(check)
        if serving is None:
            self._event(check, "RetrainSkipped", "no serving deployment to retrain", warning=True)
            return
        deployment, model_name, base_version = serving
        same_name = [m for m in check.models if m.spec.model_name == model_name]
        # Made already for this version (an operator restarted before recording it)?
        for model in same_name:
            if _retrained_for(model, meta.name, base_version):
                if check.retrain.get("model") == model.metadata.name:
                    # It failed, or a human rolled it back: do not bring it again.
                    self._event(
                        check,
                        "RetrainSkipped",
                        f"Model {model.metadata.name} was already made to replace version "
                        f"{base_version} ({check.retrain.get('state')}); delete it to retrain",
                    )
                    return
                check.retrain = self._retrain_record(model, base_version, deployment)
                return
        base = next((m for m in same_name if m.spec.version == base_version), None)
        claim = retrain.artifact_claim_name
        if claim is None and base is not None and base.spec.artifact.scheme == "pvc":
            claim = base.spec.artifact.uri.split("://", 1)[1].split("/", 1)[0]
        if claim is None:
            message = (
                "set monitoring.retrain.artifactClaimName: the serving Model's artifact "
                "is not on a claim"
            )
            self._retrain_failed(check, base_version, deployment, message)
            return
        version = next_version([m.spec.version for m in same_name])
        manifest = build_retrained_model(
            namespace=meta.namespace,
            endpoint=meta.name,
            model_name=model_name,
            version=version,
            base_version=base_version,
            claim=claim,
            framework=base.spec.framework if base is not None else "sklearn",
            retrain=retrain,
            reason=why,
        )
        name = manifest["metadata"]["name"]
        try:
            # The name is deterministic (<modelName>-<version>): a second attempt at the same
            # retrain (another replica, a restart before the status was written) meets 409.
            created = self.kube.create(manifest)
            existing = None if created is not None else self._existing_model(meta.namespace, name)
        except KubeError as error:
            self._retrain_failed(
                check, base_version, deployment, f"could not create Model {name}: {error}"
            )
            return
        if created is None:
            if existing is None or not _retrained_for(existing, meta.name, base_version):
                why_not = "a Model of that name exists that this retraining did not make"
                self._retrain_failed(
                    check, base_version, deployment, f"could not create Model {name}: {why_not}"
                )
                return
            check.retrain = self._retrain_record(existing, base_version, deployment)
            return
        check.retrain = {
            "model": manifest["metadata"]["name"],
            "version": version,
            "baseVersion": base_version,
            "fromDeployment": deployment,
            "state": "Training",
            "message": f"training version {version} of {model_name} ({why})"[:1024],
        }
        self._event(
            check,
            "RetrainStarted",
            f"created Model {manifest['metadata']['name']} (version {version}) to replace "
            f"version {base_version}: {why}",
        )

    def _retrain_failed(
        self, check: _Check, base_version: str, deployment: str, message: str
    ) -> None:
        check.retrain = {
            "state": "Failed",
            "baseVersion": base_version,
            "fromDeployment": deployment,
            "message": message,
        }
        self._event(check, "RetrainFailed", message, warning=True)

    def _existing_model(self, namespace: str, name: str) -> Model | None:
        body = self.kube.get(c.API_VERSION, c.KIND_MODEL, namespace, name)
        return parse_model(body) if body is not None else None

    @staticmethod
    def _retrain_record(model: Model, base_version: str, deployment: str) -> dict[str, Any]:
        return {
            "model": model.metadata.name,
            "version": model.spec.version,
            "baseVersion": base_version,
            "fromDeployment": deployment,
            "state": "Training",
            "message": f"training version {model.spec.version} of {model.spec.model_name}",
        }

    def _advance_retrain(self, check: _Check) -> None:
        state = check.retrain.get("state")
        if state == "Training":
            self._after_training(check)
        elif state == "CandidateReady":
            self._watch_manual_promotion(check)
        elif state == "Promoting":
            self._promote(check)

    def _after_training(self, check: _Check) -> None:
        name = check.retrain.get("model")
        model = next((m for m in check.models if m.metadata.name == name), None)
        if model is None and name:
            # Not in the listing of this pass (it may have been created during it): ask.
            body = self.kube.get(
                c.API_VERSION, c.KIND_MODEL, check.endpoint.metadata.namespace, name
            )
            model = parse_model(body) if body is not None else None
        if model is None:
            self._finish(check, "Failed", f"Model {name} was deleted before it was Ready", True)
            return
        ready = cond.find_condition([x.to_wire() for x in model.status.conditions], cond.READY)
        stalled = cond.find_condition([x.to_wire() for x in model.status.conditions], cond.STALLED)
        if ready and ready.get("status") == cond.TRUE:
            retrain = check.endpoint.spec.monitoring.retrain
            assert retrain is not None
            if retrain.promotion == "manual":
                check.retrain.update(
                    state="CandidateReady",
                    message=f"Model {name} passed its gate; promote it by adding a deployment "
                    f"of version {model.spec.version} and moving traffic to it",
                )
                check.conditions = cond.set_condition(
                    check.conditions,
                    CANDIDATE_READY,
                    cond.TRUE,
                    "GatePassed",
                    check.retrain["message"],
                    check.generation,
                    check.now,
                )
                self._event(check, "CandidateReady", check.retrain["message"])
            else:
                self._add_deployment(check, model)
        elif stalled and stalled.get("status") == cond.TRUE:
            reason = (ready or {}).get("reason", "Failed")
            message = f"Model {name} did not become Ready ({reason}): " + (ready or {}).get(
                "message", ""
            )
            self._finish(check, "GateFailed" if reason == "GateFailed" else "Failed", message, True)

    def _watch_manual_promotion(self, check: _Check) -> None:
        version = check.retrain.get("version")
        traffic = check.status.get("traffic") or {}
        for entry in check.status.get("deployments") or []:
            if entry.get("modelVersion") == version and traffic.get(entry["name"], 0) > 0:
                self._finish(check, "Promoted", f"deployment {entry['name']} serves {version}")
                return

    def _add_deployment(self, check: _Check, model: Model) -> None:
        spec = check.body.get("spec") or {}
        old = check.retrain.get("fromDeployment")
        live = next((d for d in spec.get("deployments") or [] if d.get("name") == old), None)
        if live is None:
            self._finish(check, "RolledBack", f"deployment {old} is no longer in the spec", True)
            return
        new = promoted_deployment_name(model.spec.model_name, model.spec.version)
        if not any(d.get("name") == new for d in spec.get("deployments") or []):
            entry = build_promoted_deployment(live, new, model.spec.model_name, model.spec.version)
            traffic = dict(spec.get("traffic") or check.status.get("traffic") or {})
            traffic[new] = 0
            patched = self._patch_spec(
                check, {"deployments": [*spec["deployments"], entry], "traffic": traffic}
            )
            if not patched:
                return
        check.retrain.update(
            state="Promoting",
            deployment=new,
            trafficPercent=0,
            stepTime=cond.format_time(check.now),
            message=f"added deployment {new} serving version {model.spec.version} at 0% traffic",
        )
        check.retrain.pop("readySince", None)
        self._event(check, "PromotionStep", check.retrain["message"])

    def _promote(self, check: _Check) -> None:
        retrain = check.endpoint.spec.monitoring.retrain
        assert retrain is not None
        new = check.retrain["deployment"]
        spec = check.endpoint.spec
        new_ready = check.rolled_out.get(new, False)
        if new_ready:
            check.retrain.setdefault("readySince", cond.format_time(check.now))
        else:
            check.retrain.pop("readySince", None)
        since = max(
            _parse_time(check.retrain.get("readySince")) or check.now,
            _parse_time(check.retrain.get("stepTime")) or check.now,
        )
        calls = self._call_counts(check, new) if new_ready else None
        served = None if calls is None else calls_since(check.retrain.get("stepCalls") or {}, calls)
        view = PromotionView(
            old=check.retrain["fromDeployment"],
            new=new,
            traffic=dict(spec.traffic),
            deployments=[d.name for d in spec.deployments],
            applied_percent=int(check.retrain.get("trafficPercent") or 0),
            new_ready=new_ready,
            clean_for_s=(check.now - since).total_seconds() if new_ready else 0.0,
            interval_s=float(spec.monitoring.interval_seconds),
            steps=retrain.steps,
            served=served,
        )
        decision = promotion_step(view)
        if decision.action == "wait":
            check.retrain["message"] = decision.message
        elif decision.action == "set_traffic":
            assert decision.traffic is not None
            if self._patch_spec(check, {"traffic": decision.traffic}):
                check.retrain.update(
                    trafficPercent=decision.percent,
                    stepTime=cond.format_time(check.now),
                    # Where the new deployment's call counters stood: the next step
                    # needs calls after this one, and none of them a 5xx.
                    stepCalls=calls or {},
                    message=decision.message,
                )
                self._event(check, "PromotionStep", f"{decision.message}: {decision.traffic}")
        elif decision.action == "adopt":
            check.retrain.update(
                trafficPercent=decision.percent,
                stepTime=cond.format_time(check.now),
                stepCalls=calls or {},
                message=decision.message,
            )
        elif decision.action == "roll_back":
            assert decision.traffic is not None
            if self._patch_spec(check, {"traffic": decision.traffic}):
                check.retrain["trafficPercent"] = 0
                self._finish(check, "RolledBack", decision.message, True)
        elif decision.action == "remove_old":
            old = view.old
            remaining = [d for d in check.body["spec"]["deployments"] if d.get("name") != old]
            if self._patch_spec(check, {"deployments": remaining, "traffic": {old: None}}):
                self._finish(check, "Promoted", f"{new} serves all traffic; removed {old}")
        elif decision.action == "done":
            self._finish(check, "Promoted", decision.message)
        else:
            self._finish(check, "RolledBack", decision.message, True)

    def _call_counts(self, check: _Check, deployment: str) -> dict[str, dict[str, int]] | None:
        """Every Ready pod's call counters, or None when any of them cannot be read."""
        meta = check.body["metadata"]
        try:
            return self.fetch_call_counts(meta["namespace"], meta["name"], deployment)
        except Exception as error:  # a pod going away, a timeout: promotion waits
            log.info(
                "call counts of %s/%s %s: %s", meta["namespace"], meta["name"], deployment, error
            )
            return None

    def _patch_spec(self, check: _Check, spec_patch: dict[str, Any]) -> bool:
        """Patch the endpoint's spec, failing if anyone changed the object since we read it."""
        meta = check.body["metadata"]
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "spec": spec_patch}
        try:
            self.kube.patch(
                c.API_VERSION,
                c.KIND_ONLINE_ENDPOINT,
                meta["namespace"],
                meta["name"],
                patch,
                field_manager=PROMOTION_FIELD_MANAGER,
            )
        except Conflict:
            # Changed under us (a human, a GitOps sync): decide again on the next look.
            check.retrain["message"] = "the endpoint changed while promoting; trying again"
            return False
        return True

    def _finish(self, check: _Check, state: str, message: str, warning: bool = False) -> None:
        check.retrain.update(state=state, message=message)
        for key in ("readySince",):
            check.retrain.pop(key, None)
        if cond.find_condition(check.conditions, CANDIDATE_READY):
            check.conditions = cond.set_condition(
                check.conditions,
                CANDIDATE_READY,
                cond.FALSE,
                state,
                message,
                check.generation,
                check.now,
            )
        reason = {"Promoted": "Promoted", "RolledBack": "PromotionRolledBack"}.get(
            state, "RetrainFailed"
        )
        self._event(check, reason, message, warning=warning)

    def _event(self, check: _Check, reason: str, message: str, *, warning: bool = False) -> None:
        self.kube.emit_event(
            check.body,
            reason=reason,
            message=message,
            event_type="Warning" if warning else "Normal",
        )
