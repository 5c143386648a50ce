"""What counts as a rolled-out Deployment, and which pod states are failures to report."""

from __future__ import annotations

from modelserve_operator.reconcilers.observed import observe_deployment


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
