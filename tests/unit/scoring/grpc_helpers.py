"""Helpers of the gRPC tests: Triton's client (tritonclient[grpc]) and its generated stub, aimed at
a test server's v2 gRPC port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as triton
from scoring_helpers import wait_until
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

GRPC_DEADLINE_S = 30.0
#: as long as a server may take to start (imports and all) on a busy machine
START_DEADLINE_S = 60.0


def wait_grpc_live(server) -> None:
    """The gRPC port opens just after the HTTP one: wait for it, not for a fixed time."""

    def live() -> bool:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited early:\n{server.log()}")
        try:
            return triton.InferenceServerClient(server.grpc_target).is_server_live()
        except InferenceServerException:
            return False

    wait_until(live, START_DEADLINE_S, f"gRPC liveness of {server.grpc_target}\n{server.log()}")


@contextmanager
def grpc_stub(server) -> Iterator[service_pb2_grpc.GRPCInferenceServiceStub]:
    """Triton's generated stub on a channel to the server (requests we build field by field)."""
    wait_grpc_live(server)
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def refusal(call, *args, **kwargs) -> grpc.RpcError:
    """The RpcError a stub call ends with (the test fails if it succeeds)."""
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, timeout=GRPC_DEADLINE_S, **kwargs)
    return caught.value


def typed_request(model: str, rows: np.ndarray, datatype: str, field: str, **fields):
    """A ModelInferRequest with one input of `rows` in contents.<field>."""
    request = service_pb2.ModelInferRequest(model_name=model, **fields)
    tensor = request.inputs.add(name="input-0", datatype=datatype, shape=list(rows.shape))
    getattr(tensor.contents, field).extend(rows.ravel().tolist())
    return request


def raw_input(name: str, values: np.ndarray, datatype: str) -> triton.InferInput:
    """tritonclient's own input: set_data_from_numpy sends raw_input_contents."""
    tensor = triton.InferInput(name, list(values.shape), datatype)
    tensor.set_data_from_numpy(values)
    return tensor


def rest_v2(server, model: str, inputs: list[dict], probabilities: bool = False) -> dict:
    """The same inference over REST (v2 JSON), to compare answers with."""
    body = {"inputs": inputs, "parameters": {"probabilities": probabilities}}
    response = requests.post(f"{server.url}/v2/models/{model}/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return {output["name"]: output for output in response.json()["outputs"]}


def metric_lines(server, name: str) -> list[str]:
    """The sample lines of one metric family on the server's /metrics."""
    text = requests.get(server.metrics_url, timeout=10).text
    return [line for line in text.splitlines() if line.startswith(name + "{")]
