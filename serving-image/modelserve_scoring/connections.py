"""uvicorn's httptools protocol with two guards uvicorn lacks: a deadline for a request's headers
(idle and slowloris connections are closed) and a ceiling on open connections."""

from __future__ import annotations

import asyncio

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


def guarded_protocol(header_timeout_s: float, max_connections: int) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn.Config(http=...)."""
    refusal = _refusal(max_connections)
    # one sweep over the connections instead of a timer per request (a timer costs ~10 us
    # under uvloop, bench/scoring.py); a late connection is closed at most one period late
    period_s = min(1.0, header_timeout_s / 2)
    sweeper: list[asyncio.TimerHandle | None] = [None]

    def sweep(loop: asyncio.AbstractEventLoop, connections: set) -> None:
        now = loop.time()
        for connection in list(connections):
            due = getattr(connection, "headers_due", None)
            if due is not None and due <= now and not connection.transport.is_closing():
                connection.transport.close()
        sweeper[0] = loop.call_later(period_s, sweep, loop, connections) if connections else None

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        """Closes a connection whose next request's headers are not complete within
        `header_timeout_s` of it opening or of its previous answer; refuses connections over
        `max_connections`."""

        #: loop time by which the next request's headers must be complete (None: they are)
        headers_due: float | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if max_connections and len(self.connections) > max_connections:
                transport.write(refusal)
                transport.close()
                return
            self.headers_due = self.loop.time() + header_timeout_s
            if sweeper[0] is None:
                sweeper[0] = self.loop.call_later(period_s, sweep, self.loop, self.connections)

        def on_headers_complete(self) -> None:
            self.headers_due = None
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # a pipelined request already parsed is being served: its headers came in time
            if not self.transport.is_closing() and self.cycle.response_complete:
                self.headers_due = self.loop.time() + header_timeout_s

    return GuardedHttpToolsProtocol
