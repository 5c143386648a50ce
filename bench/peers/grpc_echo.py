"""A gRPC `ModelInfer` that does nothing: the same empty answer to every call, on one of the
Python HTTP/2 servers there are (bench/grpc_transports.py measures what each costs per call).

Usage: grpc_echo.py grpcio|uvicorn|hypercorn PORT
- grpcio: a grpc.aio generic handler, bytes in and out (what ours and `bare` run on);
- uvicorn: an ASGI app on uvicorn's HTTP/2 (`http="zttp"`, prior-knowledge h2c);
- hypercorn: the same ASGI app on hypercorn (the `h2` library).
The ASGI app frames the answer as gRPC does: a 5-byte prefix (not compressed, length 0),
then `grpc-status: 0` in the trailers.
"""

from __future__ import annotations

import asyncio
import sys

METHOD = "inference.GRPCInferenceService"
#: an empty ModelInferResponse, framed: compressed flag 0, length 0
EMPTY_ANSWER = b"\x00\x00\x00\x00\x00"


async def asgi_echo(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    start = {"type": "http.response.start", "status": 200, "trailers": True}
    await send({**start, "headers": [(b"content-type", b"application/grpc")]})
    await send({"type": "http.response.body", "body": EMPTY_ANSWER})
    await send({"type": "http.response.trailers", "headers": [(b"grpc-status", b"0")]})


async def serve_grpcio(port: int) -> None:
    import grpc

    async def infer(body: bytes, context: object) -> bytes:
        return b""

    handlers = {"ModelInfer": grpc.unary_unary_rpc_method_handler(infer)}
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(METHOD, handlers),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def main(kind: str, port: int) -> None:
    if kind == "grpcio":
        asyncio.run(serve_grpcio(port))
    elif kind == "uvicorn":
        import uvicorn

        uvicorn.run(asgi_echo, host="127.0.0.1", port=port, http="zttp", http2=True,
                    loop="uvloop", access_log=False, log_level="error")  # fmt: skip
    elif kind == "hypercorn":
        import uvloop
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None
        config.loglevel = "ERROR"
        uvloop.run(serve(asgi_echo, config))
    else:
        raise SystemExit(f"unknown server {kind!r}: grpcio, uvicorn or hypercorn")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
