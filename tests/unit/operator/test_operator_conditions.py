"""metav1.Condition semantics and the kstatus-compatible summary."""

import datetime as dt

import pytest
from modelserve_api import conditions as cond

T0 = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=5)


def test_new_condition_gets_transition_time_and_generation():
    result = cond.set_condition([], "Ready", "False", "Waiting", "pods starting", 4, T0)
    assert result == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Waiting",
            "message": "pods starting",
            "lastTransitionTime": "2026-01-01T12:00:00Z",
            "observedGeneration": 4,
        }
    ]


def test_same_status_keeps_transition_time_but_updates_reason_and_message():
    first = cond.set_condition([], "Ready", "False", "Waiting", "0/2 ready", 1, T0)
    second = cond.set_condition(first, "Ready", "False", "Rolling", "1/2 ready", 2, T1)
    (ready,) = second
    assert ready["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert (ready["reason"], ready["message"], ready["observedGeneration"]) == (
        "Rolling",
        "1/2 ready",
        2,
    )


def test_status_change_moves_transition_time():
    first = cond.set_condition([], "Ready", "False", "Waiting", "", 1, T0)
    second = cond.set_condition(first, "Ready", "True", "Ready", "", 1, T1)
    assert second[0]["lastTransitionTime"] == "2026-01-01T12:05:00Z"


def test_other_conditions_untouched_and_order_stable():
    base = cond.set_condition([], "Ready", "False", "A", "", 1, T0)
    base = cond.set_condition(base, "Degraded", "False", "B", "", 1, T0)
    updated = cond.set_condition(base, "Ready", "True", "C", "", 1, T1)
    assert [c["type"] for c in updated] == ["Ready", "Degraded"]
    assert updated[1] == base[1]
    assert base[0]["status"] == "False", "the input list must not be mutated"


@pytest.mark.parametrize("status", ["true", "yes", ""])
def test_bad_status_is_refused(status):
    with pytest.raises(ValueError, match="True, False or Unknown"):
        cond.set_condition([], "Ready", status, "Why", "", 1, T0)


def _by_type(conditions):
    return {c["type"]: c["status"] for c in conditions}


def test_summary_ready_maps_to_kstatus_current():
    result = cond.summarize([], cond.ready("Serving", "2/2 ready"), 7, T0)
    assert _by_type(result) == {
        "Ready": "True",
        "Progressing": "False",
        "Reconciling": "False",
        "Degraded": "False",
        "Stalled": "False",
    }
    assert all(c["observedGeneration"] == 7 for c in result)


def test_summary_progressing_sets_reconciling_true():
    result = cond.summarize([], cond.progressing("RollingOut", "green 0/1"), 7, T0)
    states = _by_type(result)
    assert states["Ready"] == "False"
    assert states["Progressing"] == states["Reconciling"] == "True"
    assert states["Degraded"] == states["Stalled"] == "False"
    ready = cond.find_condition(result, "Ready")
    assert ready["reason"] == "RollingOut" and ready["message"] == "green 0/1"


def test_summary_failed_sets_stalled_true():
    result = cond.summarize([], cond.failed("DigestMismatch", "sha256 differs"), 7, T0)
    states = _by_type(result)
    assert states["Degraded"] == states["Stalled"] == "True"
    assert states["Ready"] == states["Progressing"] == states["Reconciling"] == "False"
    assert cond.find_condition(result, "Stalled")["reason"] == "DigestMismatch"


def test_recovery_moves_only_changed_conditions():
    broken = cond.summarize([], cond.failed("ModelNotFound", "no iris:2"), 1, T0)
    fixed = cond.summarize(broken, cond.ready(), 2, T1)
    times = {c["type"]: c["lastTransitionTime"] for c in fixed}
    assert times["Ready"] == times["Degraded"] == times["Stalled"] == "2026-01-01T12:05:00Z"
    # Progressing was False before and after: its clock does not move.
    assert times["Progressing"] == times["Reconciling"] == "2026-01-01T12:00:00Z"


def test_initial_conditions_are_unknown_and_reconciling():
    states = _by_type(cond.initial_conditions(1, T0))
    assert states["Ready"] == "Unknown"
    assert states["Reconciling"] == "True"
    assert cond.is_true(cond.initial_conditions(1, T0), "Progressing")
