"""Large request bodies are decoded in a worker process, so that small requests keep flowing.

JSON parsing and the conversion of nested lists to arrays run in C while holding the GIL:
a thread would not let the event loop in until an 8 MB body is parsed (tens of milliseconds).
A process does, and only the body and the decoded rows cross the pipe (two memory copies).
It runs at a lower CPU priority: where the server has one core, the kernel then hands it to
the event loop as soon as a small request arrives, and the large body waits. bench/
large_bodies.py measures what it buys: the p99 of small requests next to a client that posts
large ones.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from modelserve_scoring import codecs
from modelserve_scoring.errors import RequestTimeout

log = logging.getLogger(__name__)


#: the worker's nice value above the server's: a weight of about a tenth of the event loop's
WORKER_NICENESS = 10


def _lower_priority() -> None:
    """Runs first in the worker: large bodies yield the CPU to the event loop."""
    os.nice(WORKER_NICENESS)


def _ready() -> bool:
    """Run once in the new worker: it has imported the codecs by the time a body arrives."""
    return True


class DecodePool:
    """One decoding process, spawned when the first large body arrives (spawned, not forked:
    the server's threads and model are not copied into it)."""

    def __init__(self) -> None:
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Spawn the worker in the background."""
        context = multiprocessing.get_context("spawn")
        self._executor = ProcessPoolExecutor(1, mp_context=context, initializer=_lower_priority)
        self._executor.submit(_ready)

    async def decode(
        self,
        decode: Callable[..., codecs.Inference],
        protocol: str,
        body: bytes,
        header_length: int | None,
        query: bytes,
        shape: codecs.ModelShape,
        deadline: float,
    ) -> codecs.Inference:
        """`decode` (codecs.decode or a transport's own, a module-level function) in the
        worker, bounded by the request's deadline (loop time); the body that starts the worker
        is decoded here, while the worker spawns."""
        args = (protocol, body, header_length, query, shape)
        if self._executor is None:
            self.start()
            return decode(*args)
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor, decode, *args)
            return await asyncio.wait_for(future, max(deadline - loop.time(), 0))
        except TimeoutError:
            raise RequestTimeout("decoding the request took longer than the timeout") from None
        except BrokenProcessPool:
            # the worker died (killed, out of memory): a new one for the next body, this one here
            log.error("the decode worker process died; starting a new one")
            self.stop()
            self.start()
            return decode(*args)

    def stop(self) -> None:
        """Stop the worker; bodies still queued are dropped (their requests are ending too)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
