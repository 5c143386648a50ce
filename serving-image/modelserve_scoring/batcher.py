"""Adaptive micro-batching: concurrent requests are merged into one predict call.

When a request arrives and nothing else is queued, it is predicted at once (no added latency).
Under load, requests queue up while a predict runs, and the next call takes all of them, up to
MAX_BATCH_SIZE rows; if more requests are still being read off the wire, the batch waits for
them, at most MAX_BATCH_DELAY_MS. Each caller gets back exactly the slice of rows it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from modelserve_scoring.deadlines import DeadlineSweep
from modelserve_scoring.errors import BadRequest, MissingValuesRefused, RequestTimeout
from modelserve_scoring.missing import refuses_missing
from modelserve_scoring.runtime.base import ModelRuntime

log = logging.getLogger(__name__)

Result = tuple[np.ndarray | None, np.ndarray | None]


@dataclass(slots=True)
class _Pending:
    rows: np.ndarray
    want_predict: bool
    want_proba: bool
    deadline: float
    future: asyncio.Future = field(repr=False)


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(RequestTimeout("request timed out before the model answered"))


class MicroBatcher:
    """Queues each request's rows and serves them with as few predict calls as it can."""

    def __init__(
        self,
        runtime: ModelRuntime,
        max_batch_size: int,
        max_batch_delay_s: float,
        observe_batch: Callable[[int], None] = lambda rows: None,
        predict_in_thread: bool = False,
    ) -> None:
        self.runtime = runtime
        self.max_batch_size = max_batch_size
        self.max_batch_delay_s = max_batch_delay_s
        self.observe_batch = observe_batch
        #: requests that have started but not yet submitted (their bodies are being read)
        self.arriving = 0
        self._queue: deque[_Pending] = deque()
        self._waiter: asyncio.Future | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # callers past their deadline fail, queued or in a batch running in a thread
        self._deadlines: DeadlineSweep[asyncio.Future] = DeadlineSweep(_expire)
        # one thread keeps predict calls sequential, as on the loop, but off it
        self._executor = (
            ThreadPoolExecutor(1, thread_name_prefix="predict") if predict_in_thread else None
        )

    def start(self) -> None:
        """Start the worker task on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._worker = self._loop.create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Stop the worker (queued requests fail with 503 via cancellation)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._deadlines.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    async def submit(
        self, rows: np.ndarray, want_predict: bool, want_proba: bool, deadline: float
    ) -> Result:
        """Predict rows before the deadline (loop time); returns (predictions, probabilities)."""
        loop = self._loop
        assert loop is not None, "MicroBatcher.start() was not called"
        future = loop.create_future()
        self._queue.append(_Pending(rows, want_predict, want_proba, deadline, future))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._deadlines.track(future, deadline)
        try:
            return await future
        finally:
            self._deadlines.untrack(future)

    async def _wait_for_work(self, within_s: float | None = None) -> None:
        loop = self._loop
        assert loop is not None
        waiter = self._waiter = loop.create_future()
        timer = None
        if within_s is not None:
            timer = loop.call_later(within_s, lambda: waiter.done() or waiter.set_result(None))
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _take(self, batch: list[_Pending], rows: int) -> int:
        queue = self._queue
        now = self._loop.time() if self._loop is not None else 0.0
        while queue and rows < self.max_batch_size:
            item = queue[0]
            if batch and rows + len(item.rows) > self.max_batch_size:
                break
            queue.popleft()
            if item.future.done():  # timed out while queued
                continue
            if item.deadline <= now:  # do not spend a predict on an answer no one awaits
                _expire(item.future)
                continue
            batch.append(item)
            rows += len(item.rows)
        return rows

    async def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        while True:
            if not self._queue:
                await self._wait_for_work()
            batch: list[_Pending] = []
            rows = self._take(batch, 0)
            if self.arriving and rows < self.max_batch_size and self.max_batch_delay_s > 0:
                # others are mid-read: waiting a little for them beats a second predict call
                deadline = loop.time() + self.max_batch_delay_s
                while self.arriving and rows < self.max_batch_size:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    if not self._queue:
                        await self._wait_for_work(remaining)
                    rows = self._take(batch, rows)
            if not batch:
                continue
            self.observe_batch(rows)
            try:
                if self._executor is None:
                    outcomes = self._compute(batch)
                else:
                    outcomes = await loop.run_in_executor(self._executor, self._compute, batch)
            except Exception:  # keep the worker alive whatever a model does
                log.exception("micro-batch failed")
                outcomes = [(item, RuntimeError("prediction failed")) for item in batch]
            for item, outcome in outcomes:
                if item.future.done():  # timed out meanwhile
                    continue
                if isinstance(outcome, BaseException):
                    item.future.set_exception(outcome)
                else:
                    item.future.set_result(outcome)
            # let the resolved callers write their responses before the next batch
            await asyncio.sleep(0)

    def _compute(self, batch: list[_Pending]) -> list[tuple[_Pending, Result | Exception]]:
        """Predict a batch; touches no future, so it may run in a worker thread."""
        if len(batch) == 1:
            item = batch[0]
            try:
                return [(item, self._predict(item.rows, item.want_predict, item.want_proba))]
            except (ValueError, TypeError) as exc:
                if refuses_missing(item.rows, exc):  # the data plane names the input
                    return [(item, MissingValuesRefused(str(exc)))]
                return [(item, BadRequest(f"the model rejected the input: {exc}"))]
        want_predict = any(item.want_predict for item in batch)
        want_proba = any(item.want_proba for item in batch)
        merged = np.concatenate([item.rows for item in batch])
        try:
            preds, proba = self._predict(merged, want_predict, want_proba)
        except (ValueError, TypeError):
            # one caller's bad rows must not fail the others: retry each on its own
            return [outcome for item in batch for outcome in self._compute([item])]
        outcomes: list[tuple[_Pending, Result | Exception]] = []
        start = 0
        for item in batch:
            end = start + len(item.rows)
            outcomes.append(
                (
                    item,
                    (
                        preds[start:end] if preds is not None and item.want_predict else None,
                        proba[start:end] if proba is not None and item.want_proba else None,
                    ),
                )
            )
            start = end
        return outcomes

    def _predict(self, rows: np.ndarray, want_predict: bool, want_proba: bool) -> Result:
        # read once: the server may switch runtimes (service.py) while a batch runs in a thread
        runtime = self.runtime
        preds = runtime.predict(rows) if want_predict else None
        proba = runtime.predict_proba(rows) if want_proba else None
        return preds, proba
