"""The REST transport: raw ASGI, dispatching the routes of routes.py to the DataPlane; every
other request goes to the FastAPI app (feedback, monitoring, docs, 404s).

Why not FastAPI for these routes too: behind a FastAPI route the same DataPlane call took
40 to 230 us more CPU per one-row v2 request than through this dispatch (about 100 us),
measured in-process on 2026-12-03; bench/scoring.py shows what that is at the socket. The
dispatch is built from the same table that FastAPI's OpenAPI document is built from, so a route
is served and documented from one entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from modelserve_scoring.dataplane import BodyReader, DataPlane, InferenceCall, Reply
from modelserve_scoring.deadlines import DeadlineSweep
from modelserve_scoring.errors import (
    BodyTimeout,
    ClientGone,
    MethodNotAllowed,
    PayloadTooLarge,
    error_body,
)
from modelserve_scoring.routes import ROUTES, Route

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]
Receive = Callable[[], Awaitable[dict]]
_JSON = (b"content-type", b"application/json")
Handler = Callable[[dict, Receive, Callable, dict[str, str]], Awaitable[None]]
#: most paths kept resolved (a client sending many model names gets no unbounded memory)
_RESOLVED_PATHS = 256


async def respond(send: Callable, reply: Reply, extra: list[tuple[bytes, bytes]] = ()) -> None:
    """Write a Reply as an HTTP response."""
    headers = [_JSON, (b"content-length", str(len(reply.body)).encode()), *extra]
    if reply.request_id is not None:
        headers.append((b"x-request-id", reply.request_id.encode()))
    if reply.error is not None and reply.close_connection:  # the property only for a refusal
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


class ReadDeadlines:
    """The deadlines of the request bodies being read: a read past its deadline is cancelled
    by one sweep (deadlines.py), at most one period late."""

    def __init__(self) -> None:
        self._expired: set[asyncio.Task] = set()
        self._sweep: DeadlineSweep[asyncio.Task] = DeadlineSweep(self._cancel)
        #: track(task, deadline): `task` is about to wait for body chunks until `deadline`
        #: (loop time); untrack(task): it is done reading. The sweep's own methods, not
        #: wrappers: a call less each, twice a request.
        self.track = self._sweep.track
        self.untrack = self._sweep.untrack

    def expired(self, task: asyncio.Task) -> bool:
        """Whether `task` was cancelled here (and no longer is); else a cancel is someone else's."""
        if task not in self._expired:
            return False
        self._expired.discard(task)
        task.uncancel()
        return True

    def _cancel(self, task: asyncio.Task) -> None:
        # the task waits in receive(): its only await while it is tracked
        self._expired.add(task)
        task.cancel()


def body_reader(receive: Receive, declared: bytes | None, deadlines: ReadDeadlines) -> BodyReader:
    """Reads a request body (of `declared` Content-Length, if any) up to a size limit and a
    deadline (loop time)."""

    async def read(limit: int, deadline: float, loop: asyncio.AbstractEventLoop) -> bytes:
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(
                f"request body of {int(declared)} bytes is over the {limit}-byte limit"
            )
        chunks: list[bytes] = []
        size = 0
        task = asyncio.current_task(loop)
        assert task is not None
        deadlines.track(task, deadline)
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone("the client closed the connection before its body")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
        except asyncio.CancelledError:
            if not deadlines.expired(task):
                raise
            expected = f" of {int(declared)}" if declared is not None and declared.isdigit() else ""
            raise BodyTimeout(
                f"the request body did not arrive within the request timeout "
                f"(MODELSERVE_REQUEST_TIMEOUT_MS): {size}{expected} bytes received"
            ) from None
        finally:
            deadlines.untrack(task)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    return read


def bounded_receive(receive: Receive, timeout_s: float) -> Receive:
    """`receive` for the FastAPI routes (POST /feedback reads a body): the body must arrive
    within the request timeout, as on the prediction routes."""
    deadline = asyncio.get_running_loop().time() + timeout_s

    async def bounded() -> dict:
        try:
            async with asyncio.timeout_at(deadline):
                return await receive()
        except TimeoutError:
            raise BodyTimeout(
                "the request body did not arrive within the request timeout "
                "(MODELSERVE_REQUEST_TIMEOUT_MS)"
            ) from None

    return bounded


class RestTransport:
    """ASGI app: the routes of the table here, anything else to `fallback`."""

    def __init__(
        self, dataplane: DataPlane, fallback: ASGIApp, routes: tuple[Route, ...] = ROUTES
    ) -> None:
        self.dataplane = dataplane
        self.fallback = fallback
        self._deadlines = ReadDeadlines()
        #: (method, path) -> handler, for paths without parameters (the health checks, /score)
        self._exact: dict[tuple[str, str], Handler] = {}
        self._templates: list[tuple[Any, str, Handler]] = []
        #: path pattern or exact path -> methods, to answer 405 rather than 404
        self._methods: dict[Any, set[str]] = {}
        for route in routes:
            handler = self._handler(route)
            if route.path_params:
                pattern = route.pattern()
                self._templates.append((pattern, route.method, handler))
                self._methods.setdefault(pattern.pattern, set()).add(route.method)
            else:
                self._exact[(route.method, route.path)] = handler
                self._methods.setdefault(route.path, set()).add(route.method)
        self._patterns = {pattern.pattern: pattern for pattern, _, _ in self._templates}
        #: (method, path) -> (handler, path parameters) for paths a template matched: a
        #: server sees the same few model paths on every call, and a dict lookup is cheaper
        #: than a regex match and its groupdict (about 1,000 instructions, callgrind)
        self._resolved: dict[tuple[str, str], tuple[Handler, dict[str, str]]] = {}

    def _handler(self, route: Route) -> Handler:
        dataplane = self.dataplane
        if route.protocol is not None:
            protocol = route.protocol

            async def infer(scope: dict, receive: Receive, send: Callable, params: dict) -> None:
                headers = dict(scope["headers"])
                call = InferenceCall(
                    protocol,
                    body_reader(receive, headers.get(b"content-length"), self._deadlines),
                    headers,
                    scope["query_string"],
                    params.get("model_name"),
                    params.get("model_version"),
                )
                await respond(send, await dataplane.infer(call))

            return infer
        answer = getattr(dataplane, route.handler)

        async def get(scope: dict, receive: Receive, send: Callable, params: dict) -> None:
            await respond(send, answer(**params))

        return get

    async def __call__(self, scope: dict, receive: Receive, send: Callable) -> None:
        """Dispatch on method and path."""
        if scope["type"] == "http":
            key = scope["method"], scope["path"]
            handler = self._exact.get(key)
            if handler is not None:
                return await handler(scope, receive, send, {})
            resolved = self._resolved.get(key)
            if resolved is not None:
                return await resolved[0](scope, receive, send, resolved[1])
            method, path = key
            for pattern, route_method, handler in self._templates:
                if route_method == method:
                    match = pattern.match(path)
                    if match is not None:
                        params = match.groupdict()
                        if len(self._resolved) >= _RESOLVED_PATHS:
                            self._resolved.clear()  # many distinct paths: start again
                        self._resolved[key] = handler, params
                        return await handler(scope, receive, send, params)
            allowed = self._allowed(path)
            if allowed:
                return await self._not_allowed(send, method, path, allowed)
            receive = bounded_receive(receive, self.dataplane.timeout_s)
        await self.fallback(scope, receive, send)

    def _allowed(self, path: str) -> set[str]:
        methods = self._methods.get(path)
        if methods is not None:
            return methods
        for key, pattern in self._patterns.items():
            if pattern.match(path):
                return self._methods[key]
        return set()

    async def _not_allowed(self, send: Callable, method: str, path: str, allowed: set) -> None:
        error = MethodNotAllowed(f"{method} {path}: use {' or '.join(sorted(allowed))}")
        reply = Reply(error.status, error_body(error.message), error=error)
        await respond(send, reply, [(b"allow", ", ".join(sorted(allowed)).encode())])
