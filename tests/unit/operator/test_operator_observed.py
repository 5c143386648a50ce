"""What counts as a rolled-out Deployment, and which pod states are failures to report."""

from __future__ import annotations

from modelserve_operator.reconcilers.observed import (
    observe_deployment,
    pod_failure,
    pod_unschedulable,
)


def deployment(generation: int = 2, observed: int = 2, **status: int) -> dict:
    counts = {"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}
    counts.update(status)
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": observed, **counts},
    }


def test_all_replicas_updated_available_and_no_old_pod_left_is_rolled_out():
    assert observe_deployment(deployment(), []).rolled_out


def test_an_old_pod_still_running_beside_the_new_one_is_not_rolled_out():
    # A router's previous configuration must not be taken for the new one.
    surging = deployment(replicas=2, updatedReplicas=1, readyReplicas=2, availableReplicas=2)
    observation = observe_deployment(surging, [])
    assert not observation.rolled_out
    assert observation.serving


def test_a_spec_the_controller_has_not_seen_yet_is_not_rolled_out():
    assert not observe_deployment(deployment(generation=3, observed=2), []).rolled_out


def test_a_crash_looping_container_is_reported_with_pod_and_reason():
    pod = {
        "metadata": {"name": "iris-blue-1"},
        "status": {
            "containerStatuses": [
                {
                    "name": "scoring",
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"message": "digest mismatch"}},
                }
            ]
        },
    }
    observation = observe_deployment(deployment(readyReplicas=0, availableReplicas=0), [pod])
    assert observation.failure == (
        "pod iris-blue-1 container scoring: CrashLoopBackOff: digest mismatch"
    )


SCHEDULER_SAYS = (
    "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node "
    "affinity/selector. preemption: 0/3 nodes are available: 1 No preemption victims "
    "found for incoming pod, 2 Preemption is not helpful for scheduling."
)


def pending_pod(name: str, scheduled: dict | None = None, **metadata) -> dict:
    conditions = [{"type": "PodScheduled", **scheduled}] if scheduled else []
    return {
        "metadata": {"name": name, **metadata},
        "status": {"phase": "Pending", "conditions": conditions},
    }


UNSCHEDULABLE = {"status": "False", "reason": "Unschedulable", "message": SCHEDULER_SAYS}


def test_a_pod_the_scheduler_cannot_place_is_named_with_the_schedulers_reason():
    waiting = deployment(replicas=2, updatedReplicas=1, readyReplicas=1, availableReplicas=1)
    pods = [pending_pod("iris-blue-b"), pending_pod("iris-blue-a", UNSCHEDULABLE)]
    observation = observe_deployment(waiting, pods)
    assert observation.unschedulable == (
        f"pod iris-blue-a cannot be scheduled (Unschedulable): {SCHEDULER_SAYS}"
    )
    # Waiting for room is not a failure: the scheduler keeps trying.
    assert observation.failure is None


def test_pods_placed_leaving_or_not_yet_tried_are_not_unschedulable():
    placed = pending_pod("a", {"status": "True"})
    leaving = pending_pod("b", UNSCHEDULABLE, deletionTimestamp="2026-01-01T00:00:00Z")
    not_tried = pending_pod("c")
    assert pod_unschedulable([placed, leaving, not_tried]) is None


def test_a_long_scheduler_message_is_cut_and_kept_on_one_line():
    said = "0/300 nodes are available:\n" + "1 Insufficient memory, " * 100
    described = pod_unschedulable([pending_pod("p", {**UNSCHEDULABLE, "message": said})])
    assert "\n" not in described
    assert described.startswith("pod p cannot be scheduled (Unschedulable): 0/300 nodes are")
    assert len(described) < 500


def waiting_container(reason: str, message: str, image: str) -> dict:
    return {
        "metadata": {"name": "iris-blue-1"},
        "status": {
            "initContainerStatuses": [
                {
                    "name": "fetch-model",
                    "image": image,
                    "state": {"waiting": {"reason": reason, "message": message}},
                }
            ]
        },
    }


def test_an_image_that_cannot_be_pulled_is_a_failure_naming_the_image():
    never = waiting_container(
        "ErrImageNeverPull",
        'Container image "modelserve/scoring:v9" is not present with pull policy of Never',
        "modelserve/scoring:v9",
    )
    assert pod_failure([never]) == (
        "pod iris-blue-1 container fetch-model: ErrImageNeverPull: Container image "
        '"modelserve/scoring:v9" is not present with pull policy of Never'
    )
    # The kubelet's back-off message does not always repeat the image: it is added.
    backoff = waiting_container("ImagePullBackOff", "Back-off pulling image", "busybox:1.36")
    assert pod_failure([backoff]) == (
        "pod iris-blue-1 container fetch-model: ImagePullBackOff: image busybox:1.36: "
        "Back-off pulling image"
    )


def test_an_old_pod_still_terminating_is_not_rolled_out():
    # A replaced router answers its open connections with the previous split until it
    # exits; status.replicas no longer counts it, status.terminatingReplicas does.
    draining = deployment(terminatingReplicas=1)
    assert not observe_deployment(draining, []).rolled_out
    assert observe_deployment(deployment(terminatingReplicas=0), []).rolled_out


def test_without_the_terminating_count_the_pods_deletion_timestamps_say_it():
    # API servers before 1.35 (or with the feature gate off) leave terminatingReplicas out.
    leaving = {"metadata": {"name": "iris-router-old", "deletionTimestamp": "2026-12-04T00:00:00Z"}}
    staying = {"metadata": {"name": "iris-router-new"}}
    assert not observe_deployment(deployment(), [leaving, staying]).rolled_out
    assert observe_deployment(deployment(), [staying]).rolled_out
