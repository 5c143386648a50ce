"""The kubectl controls on an endpoint (refresh, rollout) start a reconcile when they change."""

from modelserve_operator.handlers.online_endpoints import ControlAnnotations

REFRESH = "modelserve.io/refresh"
ROLLOUT = "modelserve.io/rollout"


def test_a_changed_control_is_reported_once_and_other_annotations_are_not():
    controls = ControlAnnotations()
    # First sight (an operator start): the resume handler reconciles, not this.
    assert not controls.changed("ns", "iris", {REFRESH: "1"})
    assert not controls.changed("ns", "iris", {REFRESH: "1", "team": "risk"})
    assert controls.changed("ns", "iris", {REFRESH: "2"})
    assert not controls.changed("ns", "iris", {REFRESH: "2"})
    assert controls.changed("ns", "iris", {REFRESH: "2", ROLLOUT: "promote"})
    assert controls.changed("ns", "iris", {ROLLOUT: "promote"})  # refresh removed


def test_endpoints_are_told_apart_and_a_deleted_one_is_forgotten():
    controls = ControlAnnotations()
    controls.changed("ns", "iris", {})
    assert not controls.changed("other", "iris", {REFRESH: "1"})
    assert controls.changed("ns", "iris", {REFRESH: "1"})
    assert not controls.changed("ns", "iris", {}, deleted=True)
    # Created again under the same name: a first sight.
    assert not controls.changed("ns", "iris", {REFRESH: "9"})
