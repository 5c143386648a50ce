"""Read what a Deployment and its pods say: rolled out, serving, waiting or failing, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelserve_api.runtime_report import LoadRefusal

# Waiting reasons that do not fix themselves: a human (or a new spec) must act.
_STUCK_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
# Waiting reasons that are about the image: the message then names it.
_IMAGE_WAITING_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
)
# A scheduler's message lists every node's verdict; enough of it to see the reason.
MAX_SCHEDULER_MESSAGE_CHARS = 400


@dataclass(frozen=True)
class DeploymentObservation:
    """What one apps/v1 Deployment reports, boiled down for the endpoint's status."""

    exists: bool
    desired: int = 0
    ready: int = 0
    available: int = 0
    updated: int = 0
    total: int = 0  # pods of every revision, old ones included
    # Pods on their way out. An old router pod answers with the old split on its open
    # keep-alive connections until it is gone, and status.replicas no longer counts it.
    terminating: int = 0
    current_generation: bool = False
    failure: str | None = None
    # A pod the scheduler could not place, and why (waiting, not failed: room may appear).
    unschedulable: str | None = None
    # A scoring pod that refused its model (library-version skew under policy strict), or
    # whose fetch refused its artifact (not found, access denied, digest mismatch, ...).
    load_refusal: LoadRefusal | None = None

    @property
    def serving(self) -> bool:
        """At least one pod answers: traffic may be sent here."""
        return self.available >= 1

    @property
    def rolled_out(self) -> bool:
        """Every replica runs the current template and is available, and no old one is left.

        An old pod still serving (a router with the previous configuration) must not be
        mistaken for the new state: `kubectl rollout status` waits for them too.
        """
        return (
            self.exists
            and self.current_generation
            and self.updated >= self.desired
            and self.total <= self.updated
            and self.terminating == 0
            and self.available >= self.desired
            and self.ready >= self.desired
        )


def observe_deployment(
    deployment: dict[str, Any] | None, pods: list[dict[str, Any]]
) -> DeploymentObservation:
    """Summarise a Deployment and the pods it selects (pods may be of any revision)."""
    if deployment is None:
        return DeploymentObservation(exists=False)
    spec = deployment.get("spec", {})
    status = deployment.get("status", {})
    generation = deployment.get("metadata", {}).get("generation", 0)
    return DeploymentObservation(
        exists=True,
        desired=spec.get("replicas", 1),
        ready=status.get("readyReplicas", 0),
        available=status.get("availableReplicas", 0),
        updated=status.get("updatedReplicas", 0),
        total=status.get("replicas", 0),
        terminating=terminating_replicas(status, pods),
        current_generation=status.get("observedGeneration", 0) >= generation,
        failure=_deployment_failure(status) or pod_failure(pods),
        unschedulable=pod_unschedulable(pods),
        load_refusal=pod_load_refusal(pods),
    )


def terminating_replicas(status: dict[str, Any], pods: list[dict[str, Any]]) -> int:
    """Pods being deleted: the Deployment's count (Kubernetes 1.35+), else the pods' own word."""
    if "terminatingReplicas" in status:
        return int(status["terminatingReplicas"] or 0)
    # Older API servers (or the feature gate off): the deletion timestamp says it. A pod
    # already in a terminal phase has exited and answers nobody, as the count also says.
    return sum(
        1
        for pod in pods
        if pod.get("metadata", {}).get("deletionTimestamp")
        and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    )


def knows_terminating(deployment: dict[str, Any]) -> bool:
    """Whether the Deployment's status counts terminating pods itself."""
    return "terminatingReplicas" in (deployment.get("status") or {})


def _deployment_failure(status: dict[str, Any]) -> str | None:
    for condition in status.get("conditions", []):
        if condition.get("type") == "Progressing" and condition.get("status") == "False":
            return f"{condition.get('reason')}: {condition.get('message', '')}".strip()
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return f"{condition.get('reason')}: {condition.get('message', '')}".strip()
    return None


def pod_failure(pods: list[dict[str, Any]]) -> str | None:
    """The first reason a pod cannot serve that will not fix itself, naming pod and container."""
    for pod in sorted(pods, key=lambda p: p.get("metadata", {}).get("name", "")):
        if pod.get("metadata", {}).get("deletionTimestamp"):
            continue
        name = pod.get("metadata", {}).get("name", "?")
        status = pod.get("status", {})
        statuses = status.get("initContainerStatuses", []) + status.get("containerStatuses", [])
        for container in statuses:
            state = container.get("state", {})
            last = container.get("lastState", {}).get("terminated") or {}
            waiting = state.get("waiting") or {}
            terminated = state.get("terminated") or {}
            if waiting.get("reason") in _STUCK_WAITING_REASONS:
                detail = last.get("message") or waiting.get("message") or ""
                image = container.get("image", "")
                if waiting["reason"] in _IMAGE_WAITING_REASONS and image and image not in detail:
                    detail = f"image {image}" + (f": {detail}" if detail else "")
                return _describe(name, container["name"], waiting["reason"], detail)
            if terminated and terminated.get("exitCode", 0) != 0:
                detail = terminated.get("message") or f"exit code {terminated.get('exitCode')}"
                return _describe(name, container["name"], terminated.get("reason", "Error"), detail)
    return None


def pod_load_refusal(pods: list[dict[str, Any]]) -> LoadRefusal | None:
    """The refusal line a container printed before exiting, from its termination message.

    The fetch init container refuses an artifact it cannot get or verify, the scoring
    container one it will not load; init containers come first, as they run first.
    """
    for pod in sorted(pods, key=lambda p: p.get("metadata", {}).get("name", "")):
        status = pod.get("status", {})
        statuses = status.get("initContainerStatuses", []) + status.get("containerStatuses", [])
        for container in statuses:
            # the current state while it is down, the last one once it is back off waiting
            for terminated in (
                container.get("state", {}).get("terminated"),
                container.get("lastState", {}).get("terminated"),
            ):
                if terminated and terminated.get("exitCode", 0) != 0:
                    refusal = LoadRefusal.from_termination_message(terminated.get("message"))
                    if refusal is not None:
                        return refusal
    return None


def _describe(pod: str, container: str, reason: str, detail: str) -> str:
    # The end of a log tail is where the error is (a traceback ends with it).
    detail = " ".join(detail.split())[-300:]
    return f"pod {pod} container {container}: {reason}" + (f": {detail}" if detail else "")


def pod_unschedulable(pods: list[dict[str, Any]]) -> str | None:
    """The first pending pod the scheduler could not place, with the scheduler's own words.

    E.g. ``pod iris-blue-7d9 cannot be scheduled (Unschedulable): 0/3 nodes are available:
    1 Insufficient cpu, …``. Not a failure: the scheduler keeps trying, and a node with room
    (or a smaller request) lets the pod start.
    """
    for pod in sorted(pods, key=lambda p: p.get("metadata", {}).get("name", "")):
        if pod.get("metadata", {}).get("deletionTimestamp"):
            continue
        status = pod.get("status", {})
        if status.get("phase", "Pending") != "Pending":
            continue
        for condition in status.get("conditions", []):
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                name = pod.get("metadata", {}).get("name", "?")
                reason = condition.get("reason") or "Unschedulable"
                said = " ".join((condition.get("message") or "").split())
                said = said[:MAX_SCHEDULER_MESSAGE_CHARS]
                return f"pod {name} cannot be scheduled ({reason})" + (f": {said}" if said else "")
    return None
