"""Reference ceiling: the fewest steps a Python server can take per request for this model.

REST is a raw ASGI app under uvicorn (orjson in, `predict`, orjson out); gRPC is a grpc.aio
handler of `inference.GRPCInferenceService/ModelInfer` (raw tensor contents in, `predict`, raw
contents out). Both call `predict` on the event loop, with no batching, metrics or checks.
With `--cache` each distinct request is decoded and predicted once and its encoded answer sent
again after that: what is left is the transport alone, the most any server built on uvicorn or
on grpcio can do per core (the gRPC rows of issue 21 are measured against it).

Usage: bare.py ARTIFACT SHA256 HTTP_PORT GRPC_PORT [--cache] (run with the project's venv).
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

import grpc
import joblib
import numpy as np
import orjson
import uvicorn
from modelserve_scoring.v2grpc import protocol as pb


def load(artifact: Path, sha256: str) -> object:
    actual = hashlib.sha256(artifact.read_bytes()).hexdigest()
    if actual != sha256:
        raise SystemExit(f"{artifact}: sha256 {actual} != expected {sha256}")
    return joblib.load(artifact)


def build_app(estimator: object, cache: dict | None) -> object:
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        status, payload = 200, b'{"live":true,"ready":true}'
        if cache is not None and body in cache:
            status, payload = 200, cache[body]
        elif scope["method"] == "POST":
            try:
                request = orjson.loads(body)["inputs"][0]
                rows = np.asarray(request["data"], dtype=np.float64).reshape(request["shape"])
                labels = estimator.predict(rows)
                payload = orjson.dumps(
                    {
                        "outputs": [
                            {
                                "name": "predict",
                                "shape": [len(labels)],
                                "datatype": "INT64",
                                "data": labels.tolist(),
                            }
                        ]
                    }
                )
                if cache is not None:
                    cache[body] = payload
            except (KeyError, IndexError, TypeError, ValueError) as error:
                status, payload = 400, orjson.dumps({"error": str(error)})
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


def build_grpc_server(estimator: object, port: int, cache: dict | None) -> grpc.aio.Server:
    ready = pb.ModelReadyResponse(ready=True).SerializeToString()

    async def model_ready(body: bytes, context) -> bytes:
        return ready

    async def model_infer(body: bytes, context) -> bytes:
        if cache is not None and body in cache:
            return cache[body]
        request = pb.ModelInferRequest.FromString(body)
        tensor = request.inputs[0]
        rows = np.frombuffer(request.raw_input_contents[0], dtype="<f8").reshape(tensor.shape)
        labels = np.asarray(estimator.predict(rows), dtype="<i8")
        response = pb.ModelInferResponse(model_name=request.model_name)
        response.outputs.add(name="predict", datatype="INT64", shape=[len(labels)])
        response.raw_output_contents.append(labels.tobytes())
        answer = response.SerializeToString()
        if cache is not None:
            cache[body] = answer
        return answer

    # bytes in, bytes out: the handlers parse only what they read
    handlers = {
        "ModelReady": grpc.unary_unary_rpc_method_handler(model_ready),
        "ModelInfer": grpc.unary_unary_rpc_method_handler(model_infer),
    }
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(pb.SERVICE, handlers),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    return server


async def serve(estimator: object, http_port: int, grpc_port: int, cache: bool) -> None:
    grpc_server = build_grpc_server(estimator, grpc_port, {} if cache else None)
    await grpc_server.start()
    config = uvicorn.Config(
        build_app(estimator, {} if cache else None),
        host="127.0.0.1",
        port=http_port,
        access_log=False,
    )
    await uvicorn.Server(config).serve()
    await grpc_server.stop(grace=None)


if __name__ == "__main__":
    artifact_path, digest, rest_port, rpc_port = sys.argv[1:5]
    cached = sys.argv[5:] == ["--cache"]
    estimator = load(Path(artifact_path), digest)
    asyncio.run(serve(estimator, int(rest_port), int(rpc_port), cached))
