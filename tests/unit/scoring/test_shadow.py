"""The pure shadow comparison: pairing by request id, bounded memory, feedback matching."""

from __future__ import annotations

import numpy as np
import pytest
from modelserve_scoring.collector import BadBatch, Collector
from modelserve_scoring.shadow import Answer, ShadowComparison


def _labels(*values: int) -> Answer:
    return Answer(np.asarray(values))


def test_pairs_whichever_side_arrives_first():
    comparison = ShadowComparison(100, "classification")
    comparison.add_live("a", _labels(1, 0, 1, 1))
    comparison.add_shadow("cand", "a", _labels(1, 0, 0, 1))
    comparison.add_shadow("cand", "b", _labels(1, 1))
    comparison.add_live("b", _labels(1, 1))

    figures = comparison.document()["candidates"]["cand"]
    assert figures["pairedRequests"] == 2
    assert figures["agreement"] == pytest.approx(5 / 6)


def test_regression_reports_relative_error_and_its_distribution():
    comparison = ShadowComparison(100, "regression")
    comparison.add_live("a", Answer(np.asarray([10.0, 100.0])))
    comparison.add_shadow("cand", "a", Answer(np.asarray([11.0, 100.0])))

    figures = comparison.document()["candidates"]["cand"]
    assert figures["meanRelativeError"] == pytest.approx(0.05)
    assert figures["relativeErrorBuckets"]["0.001"] == 1  # the exact row
    assert figures["relativeErrorBuckets"]["0.1"] == 2
    assert "agreement" not in figures


def test_memory_is_bounded_and_counts_what_it_forgot_unpaired():
    comparison = ShadowComparison(2, "classification")
    for request_id in ("a", "b", "c"):
        comparison.add_live(request_id, _labels(1))

    doc = comparison.document()
    assert doc["pending"] == 2
    assert doc["unpairedEvicted"] == 1
    # the forgotten id cannot take feedback any more
    assert comparison.add_feedback("a", [1]) is False


def test_feedback_scores_live_and_candidate_once():
    comparison = ShadowComparison(10, "classification")
    comparison.add_live("a", _labels(1, 0))
    comparison.add_shadow("cand", "a", _labels(1, 1))

    assert comparison.add_feedback("a", [1, 0]) is True
    assert comparison.add_feedback("a", [1, 0]) is False  # already labelled
    assert comparison.add_feedback("a-never", [1]) is False
    doc = comparison.document()
    assert doc["feedback"] == {
        "matched": 1,
        "unmatched": 2,
        "labelledRows": 2,
        "liveAccuracy": 1.0,
    }
    assert doc["candidates"]["cand"]["accuracy"] == 0.5


def test_collector_refuses_a_batch_naming_what_is_wrong():
    collector = Collector(10)
    with pytest.raises(BadBatch, match="role must be one of live, shadow"):
        collector.take_batch({"role": "canary", "deployment": "d", "answers": []})
    with pytest.raises(BadBatch, match="non-empty string id"):
        collector.take_batch({"role": "live", "deployment": "d", "answers": [{"predictions": []}]})


def test_collector_sums_what_shippers_dropped_per_deployment():
    collector = Collector(10)
    batch = {"role": "live", "deployment": "blue", "dropped": 3, "answers": []}
    collector.take_batch(batch)
    collector.take_batch(batch)

    assert collector.document()["shipperDropped"] == {"blue": 6}
    assert 'modelserve_shadow_shipper_dropped_total{deployment="blue"} 6' in collector.metrics()
