"""The gRPC transport: `inference.GRPCInferenceService` on grpc.aio, each method a thin call to the
DataPlane that REST calls, with the refusal's HTTP status turned into its gRPC status code."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
import orjson
from google.protobuf.message import DecodeError

from modelserve_scoring.dataplane import BodyReader, DataPlane, InferenceCall, Reply
from modelserve_scoring.errors import PayloadTooLarge
from modelserve_scoring.service import SERVER_VERSION
from modelserve_scoring.v2grpc import protocol as pb

#: the HTTP status of a refusal (errors.py) -> its gRPC code, as Google's API guide pairs them
STATUS_CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ALREADY_EXISTS,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def status_code(http_status: int) -> grpc.StatusCode:
    """The gRPC code of a refusal answered over REST with `http_status`."""
    default = grpc.StatusCode.INTERNAL if http_status >= 500 else grpc.StatusCode.INVALID_ARGUMENT
    return STATUS_CODES.get(http_status, default)


def _request_id_metadata(reply: Reply) -> tuple[tuple[str, str], ...]:
    return () if reply.request_id is None else (("x-request-id", reply.request_id),)


async def _refuse(context: grpc.aio.ServicerContext, reply: Reply) -> None:
    """Ends the call with the refusal's status; raises (grpc's abort does)."""
    assert reply.error is not None
    await context.abort(status_code(reply.status), reply.error.message, _request_id_metadata(reply))


def _headers(context: grpc.aio.ServicerContext) -> dict[bytes, bytes]:
    """The call's metadata as the data plane reads headers (binary `-bin` entries left out)."""
    return {
        key.encode("latin-1"): value.encode("latin-1")
        for key, value in context.invocation_metadata() or ()
        if isinstance(value, str)
    }


class InferenceServicer:
    """The six methods of the service over one DataPlane."""

    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane

    async def server_live(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Live while the process serves."""
        return pb.ServerLiveResponse(live=self.dataplane.live().status == 200)

    async def server_ready(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Ready once the model is loaded and warm; false before and while draining."""
        return pb.ServerReadyResponse(ready=self.dataplane.ready().status == 200)

    async def model_ready(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Readiness of the served model; NOT_FOUND for another model or version."""
        reply = self.dataplane.model_ready(request.name, request.version or None)
        if reply.error is not None:
            await _refuse(context, reply)
        return pb.ModelReadyResponse(ready=reply.status == 200)

    async def server_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Name and version; no extensions (binary_tensor_data is REST's; raw contents are
        part of the gRPC protocol itself)."""
        return pb.ServerMetadataResponse(name="modelserve", version=SERVER_VERSION)

    async def model_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Versions, platform, inputs and outputs; the REST document's parameters have no place
        in the protocol's message."""
        reply = self.dataplane.model_metadata(request.name, request.version or None)
        if reply.error is not None:
            await _refuse(context, reply)
        document = orjson.loads(reply.body)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=document["name"],
            versions=document["versions"],
            platform=document["platform"],
            inputs=[tensor(**t) for t in document["inputs"]],
            outputs=[tensor(**t) for t in document["outputs"]],
        )

    async def model_infer(self, body: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """One inference. The request arrives as bytes and the codec (v2grpc/codec.py) reads it
        where REST bodies are read, in the decode worker when it is large; the name and version
        are read here first so an unknown model is refused before anything else, as over REST
        (parsing twice costs about 1 us for a one-row request and 1 ms for 10 MB, measured
        on 2026-12-04)."""
        try:
            envelope = pb.ModelInferRequest.FromString(body)
            name, version = envelope.model_name, envelope.model_version or None
        except DecodeError:  # the codec refuses it, in its words, counted with the others
            name = version = None
        call = InferenceCall(
            "v2_infer", _read_once(body), _headers(context), b"", name, version, "grpc"
        )
        reply = await self.dataplane.infer(call)
        if reply.error is not None:
            await _refuse(context, reply)
        context.set_trailing_metadata(_request_id_metadata(reply))
        return reply.body


def _read_once(body: bytes) -> BodyReader:
    """A BodyReader for a message gRPC has already received whole."""

    async def read(limit: int, deadline: float, loop: asyncio.AbstractEventLoop) -> bytes:
        if len(body) > limit:
            raise PayloadTooLarge(f"request message is over the {limit}-byte limit")
        return body

    return read


def _unary(method: Callable, request_type: Any | None) -> grpc.RpcMethodHandler:
    """A handler; with no request type the method gets the message bytes and answers bytes."""
    if request_type is None:
        return grpc.unary_unary_rpc_method_handler(method)
    return grpc.unary_unary_rpc_method_handler(
        method,
        request_deserializer=request_type.FromString,
        response_serializer=lambda message: message.SerializeToString(),
    )


def build_grpc_server(dataplane: DataPlane, host: str, port: int) -> grpc.aio.Server:
    """A grpc.aio server of the service on host:port (not started); message size limits are
    the REST body and answer limits."""
    servicer = InferenceServicer(dataplane)
    handlers = {
        "ServerLive": _unary(servicer.server_live, pb.ServerLiveRequest),
        "ServerReady": _unary(servicer.server_ready, pb.ServerReadyRequest),
        "ModelReady": _unary(servicer.model_ready, pb.ModelReadyRequest),
        "ServerMetadata": _unary(servicer.server_metadata, pb.ServerMetadataRequest),
        "ModelMetadata": _unary(servicer.model_metadata, pb.ModelMetadataRequest),
        "ModelInfer": _unary(servicer.model_infer, None),
    }
    assert handlers.keys() == pb.service_methods().keys()
    settings = dataplane.service.settings
    server = grpc.aio.server(
        options=[
            # a message over the body limit is refused by gRPC itself, RESOURCE_EXHAUSTED
            ("grpc.max_receive_message_length", settings.max_body_bytes),
            ("grpc.max_send_message_length", settings.max_response_bytes),
            # another process on the port is an error, not a silent share of its traffic
            ("grpc.so_reuseport", 0),
        ]
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(pb.SERVICE, handlers),))
    server.add_insecure_port(f"{host}:{port}")
    return server
