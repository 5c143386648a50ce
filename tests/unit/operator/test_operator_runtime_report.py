"""What a scoring pod's v2 metadata says about its runtime, as written to the Model status."""

from __future__ import annotations

import datetime as dt

from modelserve_operator.reconcilers.runtime_report import runtime_report

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)


def test_a_fallback_to_scikit_learn_is_reported_with_its_reason():
    metadata = {
        "name": "iris",
        "parameters": {
            "runtime": "sklearn",
            "runtime_requested": "auto",
            "runtime_fallback": "mismatch",
            "runtime_fallback_reason": "classes differ on 3 of 100000 rows",
        },
    }
    assert runtime_report(metadata, "iris/blue", NOW) == {
        "requested": "auto",
        "selected": "sklearn",
        "fallback": "mismatch",
        "reason": "classes differ on 3 of 100000 rows",
        "reportedBy": "iris/blue",
        "observedAt": "2026-11-28T02:00:00Z",
    }


def test_onnx_in_use_has_no_fallback():
    metadata = {"parameters": {"runtime": "onnx", "runtime_requested": "auto"}}
    report = runtime_report(metadata, "iris/blue", NOW)
    assert report["selected"] == "onnx"
    assert report["fallback"] == ""
    assert report["reason"] == ""


def test_metadata_without_a_runtime_reports_nothing():
    # A pod still loading, or a custom scoring script, names no runtime.
    assert runtime_report({"parameters": {"ready": False}}, "iris/blue", NOW) is None
    assert runtime_report({}, "iris/blue", NOW) is None
