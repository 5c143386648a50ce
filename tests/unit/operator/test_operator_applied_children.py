"""When the reconciler may skip re-applying a child, and when it must apply again."""

from __future__ import annotations

import copy

from modelserve_operator.reconcilers.applied import AppliedChildren

MANIFEST = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "iris-blue", "namespace": "ns"},
    "spec": {"replicas": 2},
}


def live(generation: int, resource_version: int, uid: str = "u1") -> dict:
    obj = copy.deepcopy(MANIFEST)
    obj["metadata"].update(uid=uid, generation=generation, resourceVersion=str(resource_version))
    return obj


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def applied_once() -> AppliedChildren:
    children = AppliedChildren(max_age=120)
    children.applied(MANIFEST, live(1, 10))
    return children


def test_an_unchanged_manifest_on_an_untouched_child_is_not_reapplied():
    children = applied_once()
    children.seen(live(1, 10))
    children.seen(live(1, 11))  # the Deployment controller wrote status: same generation
    assert children.unchanged(MANIFEST) == live(1, 10)


def test_a_new_manifest_is_applied():
    children = applied_once()
    changed = copy.deepcopy(MANIFEST)
    changed["spec"]["replicas"] = 3
    assert children.unchanged(changed) is None


def test_a_child_edited_by_hand_is_applied_again():
    children = applied_once()
    children.seen(live(2, 12))  # `kubectl scale` bumped the generation
    assert children.unchanged(MANIFEST) is None


def test_a_child_deleted_or_recreated_by_hand_is_applied_again():
    children = applied_once()
    children.seen(live(1, 10), deleted=True)
    assert children.unchanged(MANIFEST) is None
    children = applied_once()
    children.seen(live(1, 30, uid="u2"))
    assert children.unchanged(MANIFEST) is None


def test_an_edit_seen_before_our_apply_returned_is_not_forgotten():
    children = AppliedChildren(max_age=120)
    children.seen(live(2, 12))  # someone's edit, right after our apply (generation 1)
    children.applied(MANIFEST, live(1, 10))
    assert children.unchanged(MANIFEST) is None


def test_everything_is_applied_again_after_max_age():
    clock = Clock()
    children = AppliedChildren(max_age=120, clock=clock)
    children.applied(MANIFEST, live(1, 10))
    clock.now = 119
    assert children.unchanged(MANIFEST) is not None
    clock.now = 121  # a metadata edit changes no generation: repaired by this expiry
    assert children.unchanged(MANIFEST) is None


def test_objects_without_generation_are_compared_by_resource_version():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k", "namespace": "ns"}}
    children = AppliedChildren(max_age=120)
    children.applied(
        secret, {**secret, "metadata": {**secret["metadata"], "uid": "s", "resourceVersion": "5"}}
    )
    assert children.current("v1", "Secret", "ns", "k") is not None
    children.seen(
        {**secret, "metadata": {**secret["metadata"], "uid": "s", "resourceVersion": "6"}}
    )
    assert children.current("v1", "Secret", "ns", "k") is None


def test_forget_drops_one_endpoints_children_only():
    children = applied_once()
    other = copy.deepcopy(MANIFEST)
    other["metadata"]["name"] = "wine-blue"
    children.applied(
        other, {**other, "metadata": {**other["metadata"], "uid": "w", "generation": 1}}
    )
    children.forget("ns", "iris")
    assert children.unchanged(MANIFEST) is None
    assert children.unchanged(other) is not None
