"""The answer shipper never blocks or grows on the request path: it drops and counts."""

from __future__ import annotations

import numpy as np
from modelserve_scoring.shipper import AnswerShipper
from ports import free_port


def test_a_full_queue_drops_and_counts_instead_of_growing():
    shipper = AnswerShipper("http://127.0.0.1:9", "blue", capacity=3)  # never started
    for index in range(5):
        shipper.add(f"r{index}", False, np.asarray([1]), None)

    assert shipper.dropped == 2


def test_answers_an_unreachable_collector_never_took_are_counted_as_dropped():
    shipper = AnswerShipper(f"http://127.0.0.1:{free_port()}", "blue", timeout_s=1.0)
    shipper.add("r1", False, np.asarray([1, 0]), None)
    shipper.add("r2", True, np.asarray([1]), None)
    shipper.start()
    shipper.stop()

    assert shipper.dropped == 2
    assert shipper.shipped == 0
