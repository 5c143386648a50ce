"""The gRPC rows of bench/scoring.py: the request message, the answer check, and ghz runs.

ghz (github.com/bojand/ghz) is built from its Go module by hack/tools/build.sh and cached;
it sends one serialised ModelInferRequest, byte-identical for every server, with the rows as
raw_input_contents (what tritonclient sends by default).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

REPO = Path(__file__).resolve().parent.parent
PROTOSET = REPO / "serving-image/modelserve_scoring/v2grpc/inference.binpb"
CALL = "inference.GRPCInferenceService.ModelInfer"
#: how ghz words the calls its own end of a --duration run cuts off
_CLIENT_CLOSED = ("use of closed network connection", "the client connection is closing")


class GrpcLoadError(RuntimeError):
    """ghz could not be built or run, or a server answered wrongly over gRPC."""


def ghz_binary() -> str:
    """The cached ghz binary, built once per machine."""
    completed = subprocess.run(
        [str(REPO / "hack/tools/build.sh"), "ghz"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if completed.returncode != 0:
        raise GrpcLoadError(f"cannot build ghz: {completed.stderr.strip()[-500:]}")
    return completed.stdout.strip()


def infer_message(model_name: str, rows: np.ndarray) -> bytes:
    """One ModelInferRequest: the rows as one FP64 tensor in raw_input_contents."""
    request = service_pb2.ModelInferRequest(model_name=model_name)
    request.inputs.add(name="input-0", datatype="FP64", shape=list(rows.shape))
    request.raw_input_contents.append(np.ascontiguousarray(rows, dtype="<f8").tobytes())
    return request.SerializeToString()


def wait_grpc_ready(port: int, model_name: str, timeout: float) -> None:
    """Poll the gRPC ModelReady until it says ready."""
    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.is_model_ready(model_name):
                return
        except InferenceServerException:
            pass
        time.sleep(0.2)
    raise GrpcLoadError(f"gRPC on port {port} not ready after {timeout:.0f}s")


def first_output(port: int, body: bytes) -> list[float]:
    """The first output of the server's answer to `body`, as tritonclient reads it."""
    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    request = service_pb2.ModelInferRequest.FromString(body)
    rows = np.frombuffer(request.raw_input_contents[0]).reshape(list(request.inputs[0].shape))
    features = triton.InferInput("input-0", list(rows.shape), "FP64")
    features.set_data_from_numpy(rows)
    try:
        result = client.infer(request.model_name, [features], client_timeout=30)
    except InferenceServerException as error:
        raise GrpcLoadError(f"gRPC infer failed: {error}") from None
    name = result.get_response().outputs[0].name
    return [float(v) for v in result.as_numpy(name).ravel()]


def run_ghz(
    ghz: str, port: int, body_file: Path, clients: int, seconds: float, prefix: list[str]
) -> dict:
    """One closed-loop ghz run on one connection; returns its figures in wrk's terms."""
    argv = [
        *prefix,
        ghz,
        "--insecure",
        f"--protoset={PROTOSET}",
        f"--call={CALL}",
        f"--binary-file={body_file}",
        f"--concurrency={clients}",
        f"--duration={max(1, round(seconds))}s",
        "--connections=1",
        "--cpus=1",
        "--timeout=10s",
        "--format=json",
        f"127.0.0.1:{port}",
    ]
    completed = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if completed.returncode != 0 or not completed.stdout.startswith("{"):
        raise GrpcLoadError(
            f"ghz failed (exit {completed.returncode}): {completed.stderr or completed.stdout}"
        )
    report = json.loads(completed.stdout)
    latency = {p["percentage"]: p["latency"] for p in report.get("latencyDistribution") or []}
    statuses = report.get("statusCodeDistribution") or {}
    ok = statuses.get("OK", 0)
    # ghz ends a --duration run by closing its connection under the calls in flight: up to
    # one per client fails that way, on ghz's side, not by an answer of the server's
    ended = sum(
        n
        for message, n in (report.get("errorDistribution") or {}).items()
        if any(sign in message for sign in _CLIENT_CLOSED)
    )
    return {
        "requests": ok,
        "seconds": report["total"] / 1e9,
        "p50_ms": latency.get(50, 0) / 1e6,
        "p99_ms": latency.get(99, 0) / 1e6,
        "non_ok": int(report["count"]) - ok - min(ended, clients),
        "first_bad_status": next((s for s in statuses if s != "OK"), ""),
    }
