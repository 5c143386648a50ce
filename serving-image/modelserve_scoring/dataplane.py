"""The data plane: what every transport calls (REST in rest.py, gRPC in v2grpc/service.py).
It owns the bookkeeping of a call: the request id, admission, the in-flight count, one deadline
over reading, decoding, predicting and encoding, the mapping of every failure to a status and a
body, and the request metrics. Below it: the micro-batcher and the model runtime, or the scoring
script's workers."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from modelserve_scoring import codecs, missing
from modelserve_scoring.decode_pool import DecodePool
from modelserve_scoring.errors import (
    BadRequest,
    ClientGone,
    MissingValuesRefused,
    NotReady,
    PayloadTooLarge,
    RequestTimeout,
    ScoringError,
    ServerFault,
    TooManyRequests,
    UnsupportedMediaType,
    error_body,
)
from modelserve_scoring.script_pool import AnswerTooLarge, ScriptFailed
from modelserve_scoring.service import SERVER_VERSION, ScoringService
from modelserve_scoring.shipper import MIRRORED_HEADER
from modelserve_scoring.v2grpc import codec as grpc_codec

log = logging.getLogger(__name__)

MAX_REQUEST_ID = 128
_OK = b'{"status":"ok"}'


def new_request_id() -> str:
    """A fresh request id: 128 random bits as 32 hexadecimal characters (the form of nginx's
    $request_id, which the router passes on).

    Not uuid4().hex: building the UUID object cost 5.5 µs of a one-row prediction's ~97 µs in
    the request path (in-process A/B of the REST app, 2026-12-05), though only 1-2 µs in a
    python -m timeit loop. secrets.token_hex(16) is this same call behind two more frames.
    """
    return os.urandom(16).hex()


def usable_request_id(value: str) -> bool:
    """It goes back out in a response header: printable ASCII only, and bounded in size."""
    return 0 < len(value) <= MAX_REQUEST_ID and value.isascii() and value.isprintable()


def _json_media_type(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


@dataclass(slots=True)
class Reply:
    """What a transport sends back: a status, a JSON body and the request id (if any)."""

    status: int
    body: bytes
    request_id: str | None = None
    #: the refusal, for transports that map it themselves (gRPC status codes)
    error: ScoringError | None = None

    @property
    def close_connection(self) -> bool:
        """The request body was not read to its end: the connection cannot carry another."""
        return self.error is not None and self.error.close_connection


#: reads the body: (size limit in bytes, deadline in loop time, the running loop) -> the body
BodyReader = Callable[[int, float, asyncio.AbstractEventLoop], Awaitable[bytes]]


class Codec(NamedTuple):
    """How one transport's bodies are decoded and answered (the signatures of codecs.py's)."""

    decode: Callable[..., codecs.Inference]
    encode: Callable[..., bytes]


@dataclass(slots=True)
class InferenceCall:
    """One prediction call as a transport hands it over."""

    #: `v2_infer`, `score` or `v1_predict`: the codec, and the `route` label of the metrics
    protocol: str
    read_body: BodyReader
    headers: dict[bytes, bytes] = field(default_factory=dict)
    query: bytes = b""
    model_name: str | None = None
    model_version: str | None = None
    #: `rest` or `grpc`: how the body is encoded, and the `protocol` label of the metrics
    transport: str = "rest"


class DataPlane:
    """Serves the routes of routes.py for one ScoringService."""

    def __init__(self, service: ScoringService) -> None:
        self.service = service
        settings = service.settings
        self.metrics = service.metrics
        self.timeout_s = settings.request_timeout_ms / 1000
        self.max_body = settings.max_body_bytes
        self.max_answer = settings.max_response_bytes
        self.max_inflight = settings.max_concurrent_requests
        self.decode_offload_bytes = settings.decode_offload_bytes
        self.expose_errors = settings.expose_errors
        #: prediction calls admitted (body read) and not answered yet
        self.inflight = 0
        self.metrics.count_inflight(lambda: self.inflight)
        self._decoder = DecodePool()
        #: transport -> the codec its bodies are written in (module-level functions: the
        #: decode worker process is handed them by reference)
        self._codecs: dict[str, Codec] = {
            "rest": Codec(codecs.decode, codecs.encode),
            "grpc": Codec(grpc_codec.decode, grpc_codec.encode),
        }

    def stop(self) -> None:
        """Stop the decode worker."""
        self._decoder.stop()

    # --- health and metadata --------------------------------------------------------------------

    def live(self) -> Reply:
        """200 while the process serves."""
        return Reply(200, _OK)

    def ready(self) -> Reply:
        """200 once the model is loaded and warm, 503 before, while draining or stuck."""
        why = self.service.not_ready_reason()
        if why is None:
            return Reply(200, _OK)
        return Reply(503, error_body(f"not ready: {why}"))

    def server_metadata(self) -> Reply:
        """v2 server metadata."""
        document = {"name": "modelserve", "version": SERVER_VERSION}
        return Reply(200, codecs.dumps({**document, "extensions": ["binary_tensor_data"]}))

    def model_metadata(self, model_name: str, model_version: str | None = None) -> Reply:
        """v2 model metadata (404 for another model or version)."""
        return self._answer(lambda: (200, self.service.model_metadata()), model_name, model_version)

    def model_ready(self, model_name: str, model_version: str | None = None) -> Reply:
        """200 when the model is ready, 503 before."""
        return self._answer(self._readiness, model_name, model_version)

    def v1_model_status(self, model_name: str) -> Reply:
        """KServe v1 model status."""
        return self._answer(lambda: (200, self._readiness()[1]), model_name, None)

    def _readiness(self) -> tuple[int, dict[str, Any]]:
        ready = self.service.not_ready_reason() is None
        return (200 if ready else 503), {"name": self.service.settings.model_name, "ready": ready}

    def _answer(
        self,
        build: Callable[[], tuple[int, dict[str, Any]]],
        model_name: str,
        model_version: str | None,
    ) -> Reply:
        try:
            self.service.check_model(model_name, model_version)
        except ScoringError as exc:
            return Reply(exc.status, error_body(exc.message), error=exc)
        status, document = build()
        return Reply(status, codecs.dumps(document))

    # --- predictions ----------------------------------------------------------------------------

    async def infer(self, call: InferenceCall) -> Reply:
        """Answer one prediction call; never raises (every failure becomes a Reply)."""
        # looked up once and handed down: in Python 3.11 each get_running_loop() is also a
        # getpid() system call (asyncio's check for a fork), four per request before (strace)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.timeout_s
        request_id: str | None = None
        reply: Reply | None = None
        admitted = False
        try:
            headers = call.headers
            # the checks below are called only when the common case does not hold: each call
            # skipped is about 500 instructions of a one-row request's ~300,000 (callgrind)
            client_id = headers.get(b"x-request-id")
            if client_id is not None:
                request_id = self._client_request_id(client_id)
            if call.model_name is not None:
                self.service.check_model(call.model_name, call.model_version)
            scripted = self.service.script is not None
            if (
                not scripted
                and call.transport == "rest"
                and headers.get(b"content-type", b"application/json") != b"application/json"
            ):
                self._check_media_type(call)
            # not in flight while its body arrives: a slow client holds no slot and no batch
            body = await call.read_body(self.max_body, deadline, loop)
            if not self.service.loaded or self.max_inflight:
                self._admit()
            admitted = True
            self.inflight += 1
            if scripted:
                request_id = request_id or new_request_id()
                reply = Reply(200, await self._run_script(call, body, deadline), request_id)
            else:
                reply = await self._predict(call, body, deadline, request_id, loop)
        except ScoringError as exc:
            reply = self._refusal(exc, request_id)
        except ScriptFailed as exc:
            reply = self._script_failure(exc, request_id)
        except AnswerTooLarge as exc:
            reply = self._refusal(ServerFault(str(exc)), request_id)
        except Exception as exc:
            reply = self._fault(exc, request_id, call.protocol)
        finally:
            if admitted:
                self.inflight -= 1
            # a cancelled call (server shutting down) is counted as the client never answered
            status = reply.status if reply is not None else ClientGone.status
            fault = reply is not None and reply.error is not None and reply.error.server_fault
            self.metrics.observe_request(
                call.protocol, call.transport, status, loop.time() - started, fault
            )
        return reply

    def _client_request_id(self, value: bytes) -> str:
        text = value.decode("latin-1")
        if not usable_request_id(text):
            raise BadRequest(
                f"x-request-id must be 1 to {MAX_REQUEST_ID} printable ASCII characters, "
                f"got {text[:MAX_REQUEST_ID]!r}"
            )
        return text

    def _check_media_type(self, call: InferenceCall) -> None:
        """JSON, or no Content-Type at all (as Triton and KServe read it); the binary tensor
        extension may say application/octet-stream. Other types are refused (docs: Errors)."""
        content_type = call.headers.get(b"content-type")
        if content_type is None or _json_media_type(content_type):
            return
        binary = b"inference-header-content-length" in call.headers
        media = content_type.split(b";", 1)[0].strip().lower()
        if binary and media == b"application/octet-stream":
            return
        raise UnsupportedMediaType(
            f"Content-Type {content_type[:80].decode('latin-1')!r} is not accepted: send the body "
            "as application/json (or with no Content-Type)"
        )

    def _admit(self) -> None:
        service = self.service
        if not service.loaded:
            raise NotReady("the model is not loaded yet; retry when /v2/health/ready is 200")
        if self.max_inflight and self.inflight >= self.max_inflight:
            raise TooManyRequests(
                f"{self.inflight} requests already in flight; the limit per instance is "
                f"{self.max_inflight} (maxConcurrentRequestsPerInstance)"
            )

    async def _decode(
        self,
        call: InferenceCall,
        body: bytes,
        deadline: float,
        loop: asyncio.AbstractEventLoop,
    ) -> codecs.Inference:
        service = self.service
        header_length = None
        if call.protocol == "v2_infer" and call.transport == "rest":
            value = call.headers.get(b"inference-header-content-length")
            if value is not None:
                header_length = codecs.parse_header_length(value)
        decode = self._codecs[call.transport].decode
        args = (call.protocol, body, header_length, call.query, service.shape)
        if not self.decode_offload_bytes or len(body) < self.decode_offload_bytes:
            inference = decode(*args)
            if loop.time() > deadline:
                raise RequestTimeout("the request timed out while decoding the request")
            return inference
        batcher = service.batcher
        assert batcher is not None
        # decoded elsewhere: the batcher may wait a moment for it (MAX_BATCH_DELAY_MS)
        batcher.arriving += 1
        try:
            return await self._decoder.decode(decode, *args, deadline)
        finally:
            batcher.arriving -= 1

    async def _predict(
        self,
        call: InferenceCall,
        body: bytes,
        deadline: float,
        request_id: str | None,
        loop: asyncio.AbstractEventLoop,
    ) -> Reply:
        service = self.service
        runtime, batcher = service.runtime, service.batcher
        assert runtime is not None and batcher is not None
        inference = await self._decode(call, body, deadline, loop)
        if inference.want_proba and not runtime.has_proba:
            raise BadRequest(
                "probabilities were requested but this model has no predict_proba "
                "(it is a regressor or an estimator without probabilities)"
            )
        try:
            preds, proba = await batcher.submit(
                inference.rows, inference.want_predict, inference.want_proba, deadline
            )
        except MissingValuesRefused as exc:
            raise BadRequest(
                missing.refusal_message(inference, service.shape, exc.message)
            ) from None
        if request_id is None:
            v2_id = inference.request_id
            request_id = v2_id if v2_id and usable_request_id(v2_id) else new_request_id()
        try:
            service.monitoring.record(request_id, inference.rows, preds, proba, runtime.classes)
            if service.shipper is not None:
                service.shipper.add(request_id, MIRRORED_HEADER in call.headers, preds, proba)
        except Exception:  # monitoring must never fail a prediction
            log.exception("monitoring could not record request %s", request_id)
        settings = service.settings
        answer = self._codecs[call.transport].encode(
            call.protocol,
            inference,
            preds,
            proba,
            runtime.classes,
            settings.model_name,
            settings.model_version,
        )
        if len(answer) > self.max_answer:
            raise PayloadTooLarge(
                f"the answer is {len(answer)} bytes, over the {self.max_answer}-byte limit "
                "(MODELSERVE_MAX_RESPONSE_BYTES): send fewer rows per request"
            )
        if loop.time() > deadline:
            raise RequestTimeout("the request timed out while encoding the answer")
        return Reply(200, answer, request_id)

    async def _run_script(self, call: InferenceCall, body: bytes, deadline: float) -> bytes:
        pool = self.service.scripts
        assert pool is not None
        if call.protocol != "score" or call.transport != "rest":
            raise BadRequest(
                "this model is served by a custom scoring script, which answers POST /score only"
            )
        try:
            raw = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("request body is not valid UTF-8") from None
        return await pool.run(raw, deadline)

    # --- failures -------------------------------------------------------------------------------

    def _refusal(self, exc: ScoringError, request_id: str | None) -> Reply:
        request_id = request_id or new_request_id()
        return Reply(exc.status, error_body(exc.message, request_id), request_id, exc)

    def _script_failure(self, exc: ScriptFailed, request_id: str | None) -> Reply:
        request_id = request_id or new_request_id()
        log.error("request %s: the scoring script's %s\n%s", request_id, exc.what, exc.details)
        message = (
            f"the scoring script's {exc.what}; the server log has the details under request id "
            f"{request_id}"
        )
        if self.expose_errors:
            message += f" ({exc})"
        return self._refusal(ServerFault(message), request_id)

    def _fault(self, exc: Exception, request_id: str | None, protocol: str) -> Reply:
        request_id = request_id or new_request_id()
        log.error("request %s (%s) failed", request_id, protocol, exc_info=exc)
        message = f"internal error; the server log has the details under request id {request_id}"
        if self.expose_errors:
            message += f" ({type(exc).__name__}: {exc})"
        return self._refusal(ServerFault(message), request_id)
