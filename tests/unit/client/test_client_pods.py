"""Pod problems in plain words: unschedulable, an image the node lacks, a crash loop."""

from __future__ import annotations

from modelserve_client.pods import pod_problems


def _pod(status: dict, node: str = "modelserve-node") -> dict:
    return {
        "metadata": {"name": "modelserve-7d9f"},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "operator", "image": "modelserve/operator:dev"}],
        },
        "status": status,
    }


def test_an_image_the_node_does_not_have_is_named_with_the_node() -> None:
    waiting = {
        "reason": "ErrImageNeverPull",
        "message": 'Container image "modelserve/operator:dev" is not present with pull policy '
        "of Never",
    }
    pod = _pod({"containerStatuses": [{"name": "operator", "state": {"waiting": waiting}}]})
    [problem] = pod_problems(pod)
    assert problem.stuck
    assert problem.image == "modelserve/operator:dev"
    assert problem.node == "modelserve-node"
    assert "image modelserve/operator:dev" in problem.sentence
    assert "not on node modelserve-node" in problem.sentence


def test_an_unschedulable_pod_carries_the_schedulers_reason() -> None:
    message = "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint."
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
    }
    [problem] = pod_problems(_pod({"conditions": [condition]}, node=""))
    assert problem.reason == "Unschedulable"
    assert problem.stuck
    assert problem.sentence.endswith(message)


def test_a_crash_loop_says_the_exit_code() -> None:
    status = {
        "name": "operator",
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}},
    }
    [problem] = pod_problems(_pod({"containerStatuses": [status]}))
    assert "keeps crashing (exit code 3, Error)" in problem.sentence


def test_a_pod_still_starting_has_no_problem() -> None:
    status = {"name": "operator", "state": {"waiting": {"reason": "ContainerCreating"}}}
    scheduled = {"type": "PodScheduled", "status": "True"}
    assert pod_problems(_pod({"conditions": [scheduled], "containerStatuses": [status]})) == []
