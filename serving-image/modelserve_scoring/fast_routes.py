"""A thin raw-ASGI layer serving the hot routes (infer, score, predict, health) without framework
overhead; every other request falls through to the FastAPI app."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from modelserve_scoring import codecs
from modelserve_scoring.errors import (
    BadRequest,
    NotReady,
    PayloadTooLarge,
    RequestTimeout,
    ScoringError,
    TooManyRequests,
)
from modelserve_scoring.service import ScoringService

log = logging.getLogger(__name__)

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]
_JSON_HEADERS = [(b"content-type", b"application/json")]
_OK = b'{"status":"ok"}'
REQUEST_ID_HEADER = b"x-request-id"
_MAX_REQUEST_ID = 128
# uuid4 bits: version 4 and the RFC 4122 variant over 122 random bits
_UUID4_KEEP = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def _error_body(message: str) -> bytes:
    return codecs.dumps({"error": message})


async def _respond(send: Callable, status: int, body: bytes, request_id: str | None = None) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if request_id is not None:
        headers.append((REQUEST_ID_HEADER, request_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: dict, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def _read_body(scope: dict, receive: Callable, limit: int) -> bytes:
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"request body of {int(declared)} bytes is over the {limit}-byte limit"
        )
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > limit:
            raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def new_request_id() -> str:
    """A fresh request id: a uuid4 in hex (as uuid.uuid4().hex, at a third of its cost)."""
    return f"{(int.from_bytes(os.urandom(16)) & _UUID4_KEEP) | _UUID4_SET:032x}"


def _usable_request_id(value: str) -> bool:
    # it goes back out in a response header: printable ASCII only, and bounded in size
    return 0 < len(value) <= _MAX_REQUEST_ID and value.isascii() and value.isprintable()


def _client_request_id(value: bytes) -> str:
    """The client's x-request-id, echoed back and remembered for /feedback."""
    text = value.decode("latin-1")
    if not _usable_request_id(text):
        raise BadRequest(
            f"x-request-id must be 1 to {_MAX_REQUEST_ID} printable ASCII characters, "
            f"got {text[:_MAX_REQUEST_ID]!r}"
        )
    return text


def _split_model_path(rest: str) -> tuple[str, str | None] | None:
    """ "m" or "m/versions/v" → (m, v); anything else → None."""
    parts = rest.split("/")
    if len(parts) == 1 and parts[0]:
        return parts[0], None
    if len(parts) == 3 and parts[0] and parts[1] == "versions" and parts[2]:
        return parts[0], parts[2]
    return None


class FastRoutes:
    """ASGI app: hot routes here, the rest to `fallback` (FastAPI)."""

    def __init__(self, service: ScoringService, fallback: ASGIApp) -> None:
        self.service = service
        self.fallback = fallback
        settings = service.settings
        self.max_body = settings.max_body_bytes
        self.max_inflight = settings.max_concurrent_requests

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Dispatch on method and path."""
        if scope["type"] == "http":
            path: str = scope["path"]
            method = scope["method"]
            if method == "POST":
                if path == "/score":
                    return await self._handle(scope, receive, send, "score", None, None)
                if path.startswith("/v2/models/") and path.endswith("/infer"):
                    target = _split_model_path(path[11:-6])
                    if target is not None:
                        return await self._handle(scope, receive, send, "v2_infer", *target)
                if path.startswith("/v1/models/") and path.endswith(":predict"):
                    return await self._handle(scope, receive, send, "v1_predict", path[11:-8], None)
            elif method == "GET":
                if path == "/v2/health/live":
                    return await _respond(send, 200, _OK)
                if path == "/v2/health/ready":
                    if self.service.ready:
                        return await _respond(send, 200, _OK)
                    why = "draining" if self.service.draining else "model not loaded yet"
                    return await _respond(send, 503, _error_body(f"not ready: {why}"))
        await self.fallback(scope, receive, send)

    async def _handle(
        self,
        scope: dict,
        receive: Callable,
        send: Callable,
        route: str,
        model_name: str | None,
        model_version: str | None,
    ) -> None:
        service = self.service
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + service.request_timeout_s
        status = 200
        counted = False
        request_id: str | None = None
        try:
            client_id = _header(scope, REQUEST_ID_HEADER)
            if client_id is not None:
                request_id = _client_request_id(client_id)
            if model_name is not None:
                service.check_model(model_name, model_version)
            if self.max_inflight and service.inflight >= self.max_inflight:
                raise TooManyRequests(
                    f"{service.inflight} requests already in flight; the limit per instance is "
                    f"{self.max_inflight} (maxConcurrentRequestsPerInstance)"
                )
            service.inflight += 1
            counted = True
            service.metrics.inflight.inc()
            if not service.loaded:
                raise NotReady("the model is not loaded yet; retry when /v2/health/ready is 200")
            if service.script is not None:
                body = await _read_body(scope, receive, self.max_body)
                payload = await self._run_script(route, body, deadline, loop)
            else:
                payload, request_id = await self._predict(
                    route, scope, receive, deadline, request_id
                )
        except ScoringError as exc:
            status = exc.status
            payload = _error_body(exc.message)
        except Exception as exc:
            log.exception("%s request failed", route)
            status = 500
            payload = _error_body(f"internal error: {type(exc).__name__}")
        try:
            await _respond(send, status, payload, request_id or new_request_id())
        finally:
            # also when the client has gone: a leaked count would keep a drain waiting forever
            if counted:
                service.inflight -= 1
                service.metrics.inflight.dec()
            service.metrics.observe_request(route, status, loop.time() - started)

    def _parse(self, route: str, scope: dict, body: bytes) -> tuple[Any, ...]:
        shape = self.service.shape
        if route == "v2_infer":
            header_len = _header(scope, b"inference-header-content-length")
            if header_len is not None and not header_len.isdigit():
                raise BadRequest("Inference-Header-Content-Length must be an integer")
            request = codecs.parse_v2(
                body, int(header_len) if header_len is not None else None, shape
            )
            return request.rows, request.want_predict, request.want_proba, request.request_id
        parse = codecs.parse_score if route == "score" else codecs.parse_v1
        rows, want_proba = parse(codecs.loads(body), shape, scope["query_string"])
        return rows, True, want_proba, None

    async def _predict(
        self, route: str, scope: dict, receive: Callable, deadline: float, request_id: str | None
    ) -> tuple[bytes, str]:
        """The response body and the request id (the header's, else v2's "id", else a new one)."""
        service = self.service
        runtime = service.runtime
        batcher = service.batcher
        assert runtime is not None and batcher is not None
        # while this request is being read and parsed, the batcher may wait a little for it
        batcher.arriving += 1
        try:
            body = await _read_body(scope, receive, self.max_body)
            rows, want_predict, want_proba, v2_id = self._parse(route, scope, body)
        finally:
            batcher.arriving -= 1
        if want_proba and not runtime.has_proba:
            raise BadRequest(
                "probabilities were requested but this model has no predict_proba "
                "(it is a regressor or an estimator without probabilities)"
            )
        preds, proba = await batcher.submit(rows, want_predict, want_proba, deadline)
        if request_id is None:
            request_id = v2_id if v2_id and _usable_request_id(v2_id) else new_request_id()
        try:
            service.monitoring.record(request_id, rows, preds, proba, runtime.classes)
        except Exception:  # monitoring must never fail a prediction
            log.exception("monitoring could not record request %s", request_id)
        settings = service.settings
        if route == "v2_infer":
            body = codecs.encode_v2(
                settings.model_name,
                settings.model_version,
                v2_id,
                preds,
                proba,
                runtime.classes,
            )
            return body, request_id
        encode = codecs.encode_score if route == "score" else codecs.encode_v1
        return encode(preds, proba, runtime.classes), request_id

    async def _run_script(
        self, route: str, body: bytes, deadline: float, loop: asyncio.AbstractEventLoop
    ) -> bytes:
        service = self.service
        script = service.script
        assert script is not None
        if route != "score":
            raise BadRequest(
                "this model is served by a custom scoring script, which answers POST /score only"
            )
        try:
            raw = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("request body is not valid UTF-8") from None
        work = loop.run_in_executor(service.script_executor, script.run, raw)
        try:
            result: Any = await asyncio.wait_for(work, max(deadline - loop.time(), 0))
        except TimeoutError:
            raise RequestTimeout("the scoring script's run() did not finish in time") from None
        except Exception as exc:
            log.exception("scoring script run() raised")
            message = f"scoring script run() failed: {type(exc).__name__}: {exc}"
            raise ScoringError(message, 500) from exc
        if isinstance(result, bytes | bytearray):
            return bytes(result)
        try:
            return codecs.dumps(result)
        except TypeError as exc:
            message = f"scoring script run() returned something not JSON: {exc}"
            raise ScoringError(message, 500) from exc
