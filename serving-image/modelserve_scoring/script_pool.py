"""The threads a scoring script's run() executes in: a bounded number, never a queue behind
calls that timed out, and a count of the stuck ones that readiness reports.

A thread cannot be stopped from outside: a run() that outlives its request's deadline keeps its
worker until it returns. Such a worker is "stuck"; while every worker is stuck the server is not
ready (Kubernetes takes the pod out of its Service and, through the liveness probe's own
settings, may restart it), and a new request is refused at once instead of waiting.
"""

from __future__ import annotations

import asyncio
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modelserve_scoring import codecs
from modelserve_scoring.errors import NotReady, RequestTimeout, TooManyRequests
from modelserve_scoring.runtime.scoring_script import ScoringScript


class ScriptFailed(Exception):
    """run() raised (anything, SystemExit included) or returned something that is not JSON."""

    def __init__(self, what: str, cause: BaseException) -> None:
        super().__init__(f"{what}: {type(cause).__name__}: {cause}")
        self.what = what
        self.details = "".join(traceback.format_exception(cause))


class AnswerTooLarge(Exception):
    """run() answered more bytes than MAX_RESPONSE_BYTES."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the scoring script's answer is {size} bytes, over the {limit}-byte limit "
            "(MODELSERVE_MAX_RESPONSE_BYTES)"
        )


class ScriptPool:
    """Runs run() calls on `workers` threads; `busy` and `stuck` are read on the event loop."""

    def __init__(self, script: ScoringScript, workers: int, max_answer_bytes: int) -> None:
        self.script = script
        self.workers = workers
        self.max_answer_bytes = max_answer_bytes
        #: calls running in a worker (including stuck ones)
        self.busy = 0
        #: calls still running although their request already got its 504
        self.stuck = 0
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="score-run")

    @property
    def all_stuck(self) -> bool:
        """Every worker holds a call that timed out: nothing can be served until one returns."""
        return self.stuck >= self.workers

    def _call(self, raw_data: str) -> bytes:
        """run() and the encoding of its answer, both in the worker thread (neither may stall
        the event loop); whatever run() raises comes back as ScriptFailed."""
        try:
            result: Any = self.script.run(raw_data)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt must not end the server
            raise ScriptFailed("run() raised", exc) from None
        if isinstance(result, bytes | bytearray):
            answer = bytes(result)
        else:
            try:
                answer = codecs.dumps(result)
            except TypeError as exc:
                raise ScriptFailed("run() returned something that is not JSON", exc) from None
        if len(answer) > self.max_answer_bytes:
            raise AnswerTooLarge(len(answer), self.max_answer_bytes)
        return answer

    async def run(self, raw_data: str, deadline: float) -> bytes:
        """The JSON answer of run(raw_data), or RequestTimeout at the deadline (loop time)."""
        if self.busy >= self.workers:
            if self.all_stuck:
                raise NotReady(
                    f"all {self.workers} scoring-script workers are stuck in run() calls that "
                    "timed out; retry once one of them returns"
                )
            raise TooManyRequests(
                f"all {self.workers} scoring-script workers are busy "
                "(MODELSERVE_SCRIPT_WORKERS); retry shortly"
            )
        loop = asyncio.get_running_loop()
        self.busy += 1
        abandoned = False

        def finished(done: asyncio.Future) -> None:
            self.busy -= 1
            if abandoned:
                self.stuck -= 1
                if not done.cancelled():
                    done.exception()  # retrieved: its request was answered long ago

        future = loop.run_in_executor(self._executor, self._call, raw_data)
        future.add_done_callback(finished)
        # asyncio.wait, not wait_for: a timeout must not cancel the future, whose completion
        # is what frees the worker in the count above
        await asyncio.wait((future,), timeout=max(deadline - loop.time(), 0))
        if not future.done():
            abandoned = True
            self.stuck += 1
            raise RequestTimeout("the scoring script's run() did not finish in time")
        return future.result()

    def shutdown(self) -> None:
        """Stop taking calls; running ones are left to finish (threads cannot be stopped)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
