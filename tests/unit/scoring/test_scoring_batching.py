"""Micro-batching: concurrent requests share predict calls, and every caller gets its own rows."""

from __future__ import annotations

import asyncio
import re
import threading

import numpy as np
import pytest
import requests
from modelserve_scoring.batcher import MicroBatcher
from modelserve_scoring.errors import MissingValuesRefused, RequestTimeout
from modelserve_scoring.runtime import SklearnRuntime


def _runtime(model) -> SklearnRuntime:
    runtime = SklearnRuntime(model.artifact, model.sha256)
    runtime.load()
    return runtime


def _run_batcher(runtime, requests_rows, max_batch_size=64, want_proba=False, in_thread=False):
    """Submit all requests at once; returns (results, rows per predict call)."""
    batch_sizes: list[int] = []

    async def main():
        batcher = MicroBatcher(
            runtime, max_batch_size, 0.002, batch_sizes.append, predict_in_thread=in_thread
        )
        batcher.start()
        deadline = asyncio.get_running_loop().time() + 30
        try:
            return await asyncio.gather(
                *(batcher.submit(rows, True, want_proba, deadline) for rows in requests_rows),
                return_exceptions=True,
            )
        finally:
            await batcher.stop()

    return asyncio.run(main()), batch_sizes


@pytest.mark.parametrize("in_thread", [False, True], ids=["on-loop", "in-thread"])
def test_concurrent_requests_are_merged_and_split_back(diabetes_regressor, in_thread):
    runtime = _runtime(diabetes_regressor)
    X = diabetes_regressor.X
    # 20 callers with 1..3 distinct rows each
    chunks, start = [], 0
    for i in range(20):
        n = 1 + i % 3
        chunks.append(X[start : start + n])
        start += n
    results, batch_sizes = _run_batcher(runtime, chunks, in_thread=in_thread)
    assert batch_sizes == [start], "all queued requests should share one predict call"
    for rows, (preds, proba) in zip(chunks, results, strict=True):
        np.testing.assert_allclose(preds, diabetes_regressor.estimator.predict(rows))
        assert proba is None


def test_batches_stop_at_max_batch_size(iris_classifier):
    runtime = _runtime(iris_classifier)
    chunks = [iris_classifier.X[i : i + 1] for i in range(20)]
    results, batch_sizes = _run_batcher(runtime, chunks, max_batch_size=8, want_proba=True)
    assert batch_sizes == [8, 8, 4]
    for rows, (preds, proba) in zip(chunks, results, strict=True):
        np.testing.assert_array_equal(preds, iris_classifier.estimator.predict(rows))
        np.testing.assert_allclose(proba, iris_classifier.estimator.predict_proba(rows))


def test_one_callers_bad_rows_do_not_fail_the_batch(iris_classifier):
    runtime = _runtime(iris_classifier)
    good = iris_classifier.X[:2]
    bad = np.array([[np.nan, 1.0, 1.0, 1.0]])  # LogisticRegression refuses NaN
    results, _ = _run_batcher(runtime, [good, bad, good])
    # a 400, told from other refusals so the data plane can name the input (missing.py)
    assert isinstance(results[1], MissingValuesRefused) and "NaN" in results[1].message
    for result in (results[0], results[2]):
        np.testing.assert_array_equal(result[0], iris_classifier.estimator.predict(good))


def test_a_request_past_its_deadline_gets_a_timeout(iris_classifier):
    runtime = _runtime(iris_classifier)

    async def main():
        batcher = MicroBatcher(runtime, 64, 0.002)
        batcher.start()
        loop = asyncio.get_running_loop()
        try:
            # a deadline already passed: the timer fires before the worker gets to it
            return await asyncio.gather(
                batcher.submit(iris_classifier.X[:1], True, False, loop.time() - 1),
                return_exceptions=True,
            )
        finally:
            await batcher.stop()

    [result] = asyncio.run(main())
    assert isinstance(result, RequestTimeout)


def test_a_caller_whose_predict_runs_past_its_deadline_gets_a_timeout_before_it_ends(
    iris_classifier,
):
    """A predict running in its thread does not hold the caller past its deadline: the
    deadline sweep answers it while the predict is still running."""
    runtime = _runtime(iris_classifier)
    release = threading.Event()
    predict = runtime.predict

    def slow_predict(rows):
        release.wait(30)
        return predict(rows)

    runtime.predict = slow_predict

    async def main():
        batcher = MicroBatcher(runtime, 64, 0.002, predict_in_thread=True)
        batcher.start()
        loop = asyncio.get_running_loop()
        try:
            outcome = await asyncio.gather(
                batcher.submit(iris_classifier.X[:1], True, False, loop.time() + 0.2),
                return_exceptions=True,
            )
            return outcome, release.is_set()
        finally:
            release.set()
            await batcher.stop()

    [result], released = asyncio.run(main())
    assert isinstance(result, RequestTimeout)
    assert not released, "the caller was answered only after the predict returned"


def test_many_concurrent_http_callers_get_their_own_rows(diabetes_server, diabetes_regressor):
    """48 threads post distinct rows at once over the three protocols."""
    X, model = diabetes_regressor.X, diabetes_regressor.estimator
    callers = 48
    barrier = threading.Barrier(callers)
    failures: list[str] = []
    url = diabetes_server.url

    def call(i: int) -> None:
        rows = X[i * 3 : i * 3 + 1 + i % 3]
        expected = model.predict(rows)
        session = requests.Session()
        barrier.wait(timeout=30)
        for round_ in range(5):
            kind = (i + round_) % 3
            if kind == 0:
                body = {"data": rows.tolist()}
                got = session.post(url + "/score", json=body, timeout=30).json()
            elif kind == 1:
                body = {"instances": rows.tolist()}
                got = session.post(url + "/v1/models/diabetes:predict", json=body, timeout=30)
                got = got.json()["predictions"]
            else:
                tensor = {"name": "x", "shape": list(rows.shape), "datatype": "FP64"}
                body = {"inputs": [{**tensor, "data": rows.tolist()}]}
                got = session.post(url + "/v2/models/diabetes/infer", json=body, timeout=30)
                got = got.json()["outputs"][0]["data"]
            if not np.allclose(got, expected, rtol=1e-9):
                failures.append(f"caller {i} round {round_}: got {got}, expected {expected}")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures[:3]
    metrics = requests.get(diabetes_server.metrics_url, timeout=10).text
    calls = re.search(r"modelserve_batch_size_rows_count\{[^}]*\} (\S+)", metrics)
    assert calls is not None and float(calls.group(1)) >= 1
