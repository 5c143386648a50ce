"""Why a pod is not running: one plain sentence per problem, from the pod's status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Container waiting reasons that do not end by themselves: someone must act.
IMAGE_MISSING = frozenset({"ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff"})
STUCK_WAITING = IMAGE_MISSING | {
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
}


@dataclass(frozen=True)
class PodProblem:
    """One reason a pod is not Ready, and whether waiting longer can fix it."""

    pod: str
    reason: str
    sentence: str
    stuck: bool
    image: str = ""
    node: str = ""


def _images_by_container(pod: dict[str, Any]) -> dict[str, str]:
    spec = pod.get("spec") or {}
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    return {c.get("name", ""): c.get("image", "") for c in containers}


def _container_problem(
    pod: dict[str, Any], status: dict[str, Any], images: dict[str, str]
) -> PodProblem | None:
    name = (pod.get("metadata") or {}).get("name", "")
    node = (pod.get("spec") or {}).get("nodeName", "")
    container = status.get("name", "")
    image = images.get(container) or status.get("image", "")
    waiting = (status.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason", "")
    if reason in IMAGE_MISSING:
        where = f"node {node}" if node else "its node"
        sentence = f"image {image} of pod {name} is not on {where} and cannot be pulled ({reason})"
        return PodProblem(name, reason, sentence, True, image, node)
    if reason == "CrashLoopBackOff":
        last = (status.get("lastState") or {}).get("terminated") or {}
        how = f"exit code {last.get('exitCode')}" if last else "it keeps exiting"
        if last.get("reason"):
            how += f", {last['reason']}"
        sentence = f"container {container} of pod {name} keeps crashing ({how})"
        return PodProblem(name, reason, sentence, True, image, node)
    if reason in STUCK_WAITING:
        detail = waiting.get("message") or reason
        sentence = f"container {container} of pod {name} cannot start: {detail}"
        return PodProblem(name, reason, sentence, True, image, node)
    return None


def pod_problems(pod: dict[str, Any]) -> list[PodProblem]:
    """What keeps `pod` from running: unschedulable, an image it cannot get, a crash loop."""
    name = (pod.get("metadata") or {}).get("name", "")
    status = pod.get("status") or {}
    problems = []
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            message = condition.get("message") or "no node fits it"
            problems.append(
                PodProblem(
                    name,
                    "Unschedulable",
                    f"pod {name} cannot be scheduled: {message}",
                    True,
                )
            )
    images = _images_by_container(pod)
    for item in (status.get("initContainerStatuses") or []) + (
        status.get("containerStatuses") or []
    ):
        problem = _container_problem(pod, item, images)
        if problem:
            problems.append(problem)
    return problems
