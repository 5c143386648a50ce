"""An endpoint's monitoring checks, retraining and automatic promotion (run by its reconcile).

The checks read ``GET /monitoring`` of one Ready scoring pod per serving deployment
through the API server's pod proxy, judge it (monitoring.py), set DataDrift and
PerformanceDegraded, and on a crossing register the next Model version. Automatic
promotion never writes the spec: the candidate is served next to the deployment it
replaces from status (`candidate`), the rollout (reconcilers/rollout.py) steps traffic
to it, and the spec takes it over once its author commits it (docs/lifecycle.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelserve_api import EndpointDeployment, Model, OnlineEndpoint, parse_model
from modelserve_api import conditions as cond
from modelserve_api import constants as c

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
    check_deployment,
    monitoring_conditions,
    next_version,
    without_monitoring_conditions,
)

log = logging.getLogger(__name__)

# (namespace, endpoint, deployment) -> the body of that deployment's GET /monitoring.
FetchMonitoring = Callable[[str, str, str], dict[str, Any]]
# (namespace, endpoint, deployment) -> {pod: its GET /monitoring/requests} for every Ready pod.
FetchCallCounts = Callable[[str, str, str], dict[str, dict[str, int]]]
IN_FLIGHT = ("Training", "CandidateReady", "Promoting", "AwaitingCommit")
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
    ) -> None:
        self.kube = kube
        # Seams: tests feed verdicts through them where no real scoring pod can answer.
        self.fetch_monitoring = fetch_monitoring or fetch_through_pod_proxy(kube)

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
        if check.retrain.get("state") in ("Promoting", "AwaitingCommit"):
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
        elif state in ("Promoting", "AwaitingCommit"):
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
        """Serve the candidate from status: the rollout steps traffic to it, the spec stays."""
        spec = check.endpoint.spec
        old = check.retrain.get("fromDeployment")
        if spec.deployment(old or "") is None:
            self._finish(check, "RolledBack", f"deployment {old} is no longer in the spec", True)
            return
        new = promoted_deployment_name(model.spec.model_name, model.spec.version)
        check.retrain.update(
            state="Promoting",
            deployment=new,
            message=f"serving candidate deployment {new} (version {model.spec.version}) next to "
            f"{old}; status.rollout steps traffic to it",
        )
        self._event(check, "PromotionStep", check.retrain["message"])

    def _promote(self, check: _Check) -> None:
        """Follow the rollout of the candidate; once it serves, wait for the spec to name it."""
        new = check.retrain.get("deployment") or ""
        # The body's spec, not check.endpoint: that one serves the candidate too.
        named = {d.get("name") for d in (check.body.get("spec") or {}).get("deployments") or []}
        if new in named:
            self._finish(check, "Promoted", f"the spec names deployment {new}: promoted")
            return
        rollout = check.status.get("rollout") or {}
        phase = rollout.get("phase")
        if check.retrain.get("state") == "AwaitingCommit":
            return
        if phase == "Succeeded" and new in (rollout.get("target") or {}):
            check.retrain.update(
                state="AwaitingCommit",
                message=f"{new} serves {rollout['target']} from status; commit it to the spec: "
                f"a deployment {new} of version {check.retrain.get('version')} and that "
                "traffic (the operator never writes the spec)",
            )
            self._event(check, "PromotionStep", check.retrain["message"])
        elif phase in ("RolledBack", "Aborted"):
            self._finish(check, "RolledBack", rollout.get("message") or phase, True)
        elif rollout.get("message"):
            check.retrain["message"] = rollout["message"]

    @staticmethod
    def candidate(
        body: dict[str, Any], endpoint: OnlineEndpoint
    ) -> tuple[EndpointDeployment, str] | None:
        """The retrained version served from status (and the deployment it replaces), if any.

        It exists while automatic promotion rolls it out or waits for the spec to name it;
        it is built like the deployment it replaces, with the new version.
        """
        retrain = endpoint.spec.monitoring.retrain
        record = ((body.get("status") or {}).get("monitoring") or {}).get("retrain") or {}
        if (
            not endpoint.spec.monitoring.enabled
            or retrain is None
            or retrain.promotion != "auto"
            or record.get("state") not in ("Promoting", "AwaitingCommit")
        ):
            return None
        name, old = record.get("deployment"), record.get("fromDeployment")
        live = next(
            (d for d in (body.get("spec") or {}).get("deployments") or [] if d.get("name") == old),
            None,
        )
        if not name or live is None or endpoint.spec.deployment(name) is not None:
            return None
        entry = build_promoted_deployment(
            live, name, live["model"]["name"], str(record.get("version"))
        )
        return EndpointDeployment.model_validate(entry), str(old)

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
