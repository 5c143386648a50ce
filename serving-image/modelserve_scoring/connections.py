"""uvicorn's httptools protocol with two guards uvicorn lacks: a deadline for a request's headers
(idle and slowloris connections are closed) and a ceiling on open connections; and an answer
written to the socket once, not once for its head and again for its body."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from modelserve_scoring.errors import error_body


def _refusal(max_connections: int) -> bytes:
    body = error_body(
        f"the server already has {max_connections} open connections "
        "(MODELSERVE_MAX_CONNECTIONS); retry shortly"
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class OneWriteAnswers:
    """The transport an answer is written through: the status line and headers are held until
    the body comes, then both go out in one write.

    uvicorn writes an answer's head and body separately: two send() calls and, with
    TCP_NODELAY, two segments for the client to read. Held, it is one of each (strace -c of
    the server under load; bench/README.md, "The request path against the tree before
    issue 15").
    """

    __slots__ = ("_then", "head", "transport")

    def __init__(self, transport: asyncio.Transport, then: Callable[[], None]) -> None:
        self.transport = transport
        self.head: bytes | None = None
        self._then = then

    def write(self, data: bytes) -> None:
        """Hold a final answer's head (not a 1xx's); send anything else with what is held."""
        head = self.head
        if head is not None:
            self.head = None
            self.transport.write(head + data)
        elif data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.1 1"):
            self.head = data
        else:
            self.transport.write(data)

    def flush(self) -> None:
        """Send a head still held (an answer without a body: HEAD, 204, 304)."""
        head = self.head
        if head is not None:
            self.head = None
            self.transport.write(head)

    def answered(self) -> None:
        """The answer is complete: send what is held, then go on as uvicorn does (`then`)."""
        head = self.head  # flush(), inline: this runs on every answer
        if head is not None:
            self.head = None
            self.transport.write(head)
        self._then()

    def close(self) -> None:
        """Send what is held, then close."""
        if not self.transport.is_closing():
            self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        """As the socket's transport."""
        return self.transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """As the socket's transport."""
        return self.transport.get_extra_info(name, default)


def guarded_protocol(
    header_timeout_s: float, max_connections: int, keep_alive_s: float
) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn.Config(http=...)."""
    refusal = _refusal(max_connections)
    # One sweep over the connections instead of a timer per answer: uvicorn arms a keep-alive
    # timer after every answer and cancels it at the next request, about 3 µs a pair under
    # uvloop (a timeit loop of call_later and cancel). A connection is closed at most one
    # period late.
    period_s = min(1.0, header_timeout_s / 2, keep_alive_s / 2)
    sweeper: list[asyncio.TimerHandle | None] = [None]

    def sweep(loop: asyncio.AbstractEventLoop, connections: set) -> None:
        now = loop.time()
        for connection in list(connections):
            if connection.transport.is_closing():
                continue
            headers_due = getattr(connection, "headers_due", None)
            idle_due = getattr(connection, "idle_due", None)
            if (headers_due is not None and headers_due <= now) or (
                idle_due is not None and idle_due <= now
            ):
                connection.transport.close()
        sweeper[0] = loop.call_later(period_s, sweep, loop, connections) if connections else None

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        """Closes a connection whose next request's headers are not complete within
        `header_timeout_s` of it opening or of its previous answer, or whose next request has
        not begun `keep_alive_s` after that answer; refuses connections over
        `max_connections`."""

        #: loop time by which the next request's headers must be complete (None: they are)
        headers_due: float | None = None
        #: loop time by which the next request must begin (None: one has, or none answered yet)
        idle_due: float | None = None
        #: a request has begun whose headers are not complete yet
        reading_headers = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if max_connections and len(self.connections) > max_connections:
                transport.write(refusal)
                transport.close()
                return
            self.headers_due = self.loop.time() + header_timeout_s
            if sweeper[0] is None:
                sweeper[0] = self.loop.call_later(period_s, sweep, self.loop, self.connections)

        # The base class by name, not super(): these run on every request, and super() builds
        # an object each time (about 350 instructions, callgrind).
        def on_message_begin(self) -> None:
            self.idle_due = None
            self.reading_headers = True
            HttpToolsProtocol.on_message_begin(self)

        def on_headers_complete(self) -> None:
            self.headers_due = None
            self.reading_headers = False
            HttpToolsProtocol.on_headers_complete(self)
            cycle = self.cycle
            if cycle is not None and cycle.transport is self.transport:
                # the answer's head waits for its body; a bodiless answer's, for its end
                writes = OneWriteAnswers(self.transport, cycle.on_response)
                cycle.transport = writes  # type: ignore[assignment]
                cycle.on_response = writes.answered

        def on_response_complete(self) -> None:
            # uvicorn's own, but the keep-alive deadline is the sweep's instead of a timer
            self.server_state.total_requests += 1
            if self.transport.is_closing():
                return
            self.flow.resume_reading()
            if self.pipeline:
                # a pipelined request already parsed is served next: its headers came in time
                cycle, app = self.pipeline.pop()
                self._start_asgi_task(cycle, app)
            else:
                now = self.loop.time()
                self.headers_due = now + header_timeout_s
                if not self.reading_headers:
                    self.idle_due = now + keep_alive_s

    return GuardedHttpToolsProtocol
