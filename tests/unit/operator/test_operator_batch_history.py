"""Which run a BatchDeployment's status speaks of: the newest, even within one second."""

from modelserve_operator.reconcilers.batch_deployment import MAX_RUNS, run_history


def run(run_id: str, start: str) -> dict:
    return {"id": run_id, "result": "Running", "startTime": start}


def test_a_run_started_in_the_same_second_as_the_one_before_is_the_newest():
    # The second run's random id sorts before the first's; the one-second startTime ties.
    runs = {r["id"]: r for r in [run("nightly-r601c2bb", "2026-12-04T19:36:15Z")]}
    runs["nightly-r172e822"] = run("nightly-r172e822", "2026-12-04T19:36:15Z")
    assert [r["id"] for r in run_history(runs)] == ["nightly-r601c2bb", "nightly-r172e822"]


def test_runs_are_ordered_by_start_time_and_only_the_newest_are_kept():
    starts = [f"2026-12-04T10:{minute:02d}:00Z" for minute in range(MAX_RUNS + 3)]
    # Recorded out of order (a Job found without a status entry comes last).
    runs = {f"r{i}": run(f"r{i}", start) for i, start in reversed(list(enumerate(starts)))}
    history = run_history(runs)
    assert [r["startTime"] for r in history] == starts[-MAX_RUNS:]
