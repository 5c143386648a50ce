"""modelserve_resource_condition, the gauge the chart's Degraded and batch alerts read."""

from __future__ import annotations

import datetime as dt

import pytest
from modelserve_api import conditions as cond
from modelserve_operator.metrics import RESOURCE_CONDITION, forget_resource, record_conditions
from prometheus_client import REGISTRY

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def series(name: str) -> dict[tuple[str, str], float]:
    """(condition, reason) -> value for one object, as Prometheus would scrape it."""
    found = {}
    for family in REGISTRY.collect():
        if family.name != "modelserve_resource_condition":
            continue
        for sample in family.samples:
            if sample.labels["name"] == name:
                found[(sample.labels["condition"], sample.labels["reason"])] = sample.value
    return found


@pytest.fixture
def name(request: pytest.FixtureRequest):
    unique = f"metric-test-{request.node.name}"
    yield unique
    forget_resource("BatchDeployment", "ml", unique)


def test_conditions_are_exported_with_their_reason(name):
    summary = cond.failed("RunFailed", "run r1 failed")
    record_conditions("BatchDeployment", "ml", name, cond.summarize([], summary, 1, NOW))
    assert series(name) == {
        ("Ready", "RunFailed"): 0.0,
        ("Progressing", "AsExpected"): 0.0,
        ("Degraded", "RunFailed"): 1.0,
    }


def test_a_new_reason_replaces_the_old_series_instead_of_adding_one(name):
    failed = cond.summarize([], cond.failed("RunFailed", "run r1 failed"), 1, NOW)
    record_conditions("BatchDeployment", "ml", name, failed)
    recovered = cond.summarize(failed, cond.ready("RunSucceeded", "run r2 scored"), 1, NOW)
    record_conditions("BatchDeployment", "ml", name, recovered)
    # A lingering Degraded=1 series would keep the alert firing after the fix.
    assert series(name) == {
        ("Ready", "RunSucceeded"): 1.0,
        ("Progressing", "AsExpected"): 0.0,
        ("Degraded", "AsExpected"): 0.0,
    }


def test_a_deleted_object_leaves_no_series(name):
    failed = cond.summarize([], cond.failed("RunFailed", "run r1 failed"), 1, NOW)
    record_conditions("BatchDeployment", "ml", name, failed)
    forget_resource("BatchDeployment", "ml", name)
    assert series(name) == {}
    # Forgetting twice (a repeated DELETED event) is harmless.
    forget_resource("BatchDeployment", "ml", name)


def test_the_gauge_is_registered_once_under_its_documented_name():
    assert RESOURCE_CONDITION._name == "modelserve_resource_condition"
