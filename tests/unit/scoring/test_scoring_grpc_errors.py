"""The refusals of the v2 gRPC service, each with its status code and words naming the problem;
a client's fault is never counted as a server error. Against real servers, through Triton's
generated stub; every wait polls a condition with a deadline."""

from __future__ import annotations

import os
import socket
import subprocess
import threading

import grpc
import joblib
import numpy as np
import pytest
import requests
from grpc_helpers import grpc_stub, metric_lines, refusal, typed_request, wait_grpc_live
from scoring_helpers import sha256_of, wait_until
from tritonclient.grpc import service_pb2

ROW = [[5.1, 3.5, 1.4, 0.2]]


def _server_errors(server) -> int:
    return requests.get(server.url + "/monitoring/requests", timeout=10).json()["serverErrors"]


def _with_raw_count_mismatch() -> service_pb2.ModelInferRequest:
    request = typed_request("iris", np.array(ROW), "FP64", "fp64_contents")
    request.inputs[0].ClearField("contents")
    request.raw_input_contents.extend([np.array(ROW).tobytes(), b"extra"])
    return request


def _with_raw_size_mismatch() -> service_pb2.ModelInferRequest:
    request = typed_request("iris", np.array(ROW), "FP64", "fp64_contents")
    request.inputs[0].ClearField("contents")
    request.raw_input_contents.append(np.array(ROW, dtype=np.float32).tobytes())
    return request


def _with_output(name: str) -> service_pb2.ModelInferRequest:
    request = typed_request("iris", np.array(ROW), "FP64", "fp64_contents")
    request.outputs.add(name=name)
    return request


CLIENT_FAULTS = [
    pytest.param(
        typed_request("iris", np.array([[1.0, 2.0]]), "FP64", "fp64_contents"),
        "expected 4 features per row, got 2",
        id="feature-count",
    ),
    pytest.param(
        typed_request("iris", np.array(ROW), "FP32", "fp64_contents"),
        "go in contents.fp32_contents, got contents.fp64_contents",
        id="contents-of-another-type",
    ),
    pytest.param(
        _with_output("logits"), "outputs[0].name 'logits' is unknown", id="unknown-output"
    ),
    pytest.param(
        service_pb2.ModelInferRequest(
            model_name="iris",
            inputs=[
                service_pb2.ModelInferRequest.InferInputTensor(
                    name="input-0",
                    datatype="BYTES",
                    shape=[1, 4],
                    contents=service_pb2.InferTensorContents(bytes_contents=[b"a"] * 4),
                )
            ],
        ),
        "datatype BYTES is not accepted: this model takes numbers",
        id="bytes-for-a-numeric-model",
    ),
    pytest.param(
        _with_raw_count_mismatch(), "raw_input_contents has 2 entries for 1 inputs", id="raw-count"
    ),
    pytest.param(_with_raw_size_mismatch(), "raw_input_contents holds 16 bytes", id="raw-size"),
    pytest.param(
        service_pb2.ModelInferRequest(model_name="iris"), "at least one tensor", id="no-inputs"
    ),
    pytest.param(
        typed_request("iris", np.array(ROW), "FP16", "fp32_contents"),
        "FP16 tensors are sent in raw_input_contents",
        id="typed-fp16",
    ),
]


@pytest.mark.parametrize(("request_message", "named"), CLIENT_FAULTS)
def test_client_faults_are_invalid_argument(iris_server, request_message, named):
    with grpc_stub(iris_server) as stub:
        errors_before = _server_errors(iris_server)
        error = refusal(stub.ModelInfer, request_message)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert named in error.details()
    assert _server_errors(iris_server) == errors_before
    assert any(
        'protocol="grpc",route="v2_infer",status="400"' in line
        for line in metric_lines(iris_server, "modelserve_requests_total")
    )


def test_a_message_that_is_not_a_request_is_invalid_argument(iris_server):
    wait_grpc_live(iris_server)
    with grpc.insecure_channel(iris_server.grpc_target) as channel:
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        with pytest.raises(grpc.RpcError) as caught:
            infer(b"\xff\xff\xff", timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a ModelInferRequest" in caught.value.details()


def test_unknown_model_or_version_is_not_found(iris_server):
    with grpc_stub(iris_server) as stub:
        for name, version, named in (
            ("setosa", "", "model 'setosa' is not served here"),
            ("iris", "4", "no version '4'"),
        ):
            request = typed_request("iris", np.array(ROW), "FP64", "fp64_contents")
            request.model_name, request.model_version = name, version
            error = refusal(stub.ModelInfer, request)
            assert error.code() == grpc.StatusCode.NOT_FOUND
            assert named in error.details()
            metadata = service_pb2.ModelMetadataRequest(name=name, version=version)
            assert refusal(stub.ModelMetadata, metadata).code() == grpc.StatusCode.NOT_FOUND


def test_a_message_over_the_body_limit_is_resource_exhausted(iris_server):
    """The iris server's MAX_BODY_BYTES is 64 KiB."""
    rows = np.zeros((4000, 4))
    with grpc_stub(iris_server) as stub:
        error = refusal(stub.ModelInfer, typed_request("iris", rows, "FP64", "fp64_contents"))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


GATED_SCRIPT = """
import os
import time
from pathlib import Path

model_dir = None


def _wait(gate):
    deadline = time.monotonic() + 120
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def init():
    global model_dir
    model_dir = Path(os.environ["MODELSERVE_MODEL_DIR"])
    _wait(model_dir / "release-init")


def run(raw_data):
    if "hold" in raw_data:
        (model_dir / "holding").touch()
        _wait(model_dir / "release-run")
    return {"ok": True}
"""


def test_not_ready_is_unavailable_and_overload_is_resource_exhausted(start_server, tmp_path):
    """A scoring script whose init() and run() wait for files the test creates: first the
    server is live but not ready, then its one request slot is held."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.joblib").write_bytes(b"the script loads nothing")
    (tmp_path / "score.py").write_text(GATED_SCRIPT)
    server = start_server(
        wait_ready=False,
        model_dir=model_dir,
        scoring_script=tmp_path / "score.py",
        artifact_sha256=sha256_of(model_dir / "model.joblib"),
        max_concurrent_requests=1,
        request_timeout_ms=60_000,
    )
    request = typed_request("model", np.array(ROW), "FP64", "fp64_contents")
    with grpc_stub(server) as stub:
        ready = stub.ServerReady(service_pb2.ServerReadyRequest(), timeout=30)
        assert not ready.ready
        model = stub.ModelReady(service_pb2.ModelReadyRequest(name="model"), timeout=30)
        assert not model.ready
        error = refusal(stub.ModelInfer, request)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert "not loaded yet" in error.details()

        (model_dir / "release-init").touch()
        server.wait_ready()
        held = {}
        holder = threading.Thread(
            target=lambda: held.update(
                response=requests.post(server.url + "/score", json={"hold": 1}, timeout=90)
            )
        )
        holder.start()
        try:
            wait_until((model_dir / "holding").exists, 60, "the script to hold its one slot")
            error = refusal(stub.ModelInfer, request)
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "maxConcurrentRequestsPerInstance" in error.details()
        finally:
            (model_dir / "release-run").touch()
            holder.join(timeout=90)
        assert held["response"].status_code == 200
        # a script answers POST /score only, over REST: said so, not failed
        error = refusal(stub.ModelInfer, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "answers POST /score only" in error.details()
    # not ready is the server's state (503, as over REST); the overload and the refusal are not
    assert _server_errors(server) == 1


FAULTY_MODEL = """
import numpy as np
from sklearn.linear_model import LogisticRegression


class FailsOn999(LogisticRegression):
    \"\"\"Breaks (a RuntimeError: the server's fault) on a first feature of 999.\"\"\"

    def predict(self, X):
        if (np.asarray(X, dtype=float)[:, 0] == 999).any():
            raise RuntimeError("the model broke")
        return super().predict(X)
"""


def test_a_model_fault_is_internal_and_counted(start_server, tmp_path, monkeypatch):
    (tmp_path / "faulty_model.py").write_text(FAULTY_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    # the server unpickles the model: its class must be importable there too
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    from faulty_model import FailsOn999

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    X = np.random.default_rng(0).normal(size=(60, 4))
    y = (X[:, 1] > 0).astype(int)
    joblib.dump(FailsOn999().fit(X, y), model_dir / "model.joblib")
    server = start_server(
        model_dir=model_dir,
        artifact_sha256=sha256_of(model_dir / "model.joblib"),
        runtime="sklearn",
    )
    with grpc_stub(server) as stub:
        ok = stub.ModelInfer(typed_request("model", np.array(ROW), "FP64", "fp64_contents"))
        assert list(ok.outputs[0].contents.int64_contents) in ([0], [1])
        error = refusal(
            stub.ModelInfer,
            typed_request("model", np.array([[999.0, 0, 0, 0]]), "FP64", "fp64_contents"),
        )
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "the server log has the details under request id" in error.details()
    assert "the model broke" not in error.details()
    assert _server_errors(server) == 1
    assert any(
        'protocol="grpc",route="v2_infer",status="500"' in line
        for line in metric_lines(server, "modelserve_requests_total")
    )
    assert server.stop() == 0, server.log()


def test_a_grpc_port_in_use_stops_the_server(start_server, iris_classifier):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = start_server(
            wait_ready=False,
            model_dir=iris_classifier.directory,
            artifact_sha256=iris_classifier.sha256,
            grpc_port=taken.getsockname()[1],
        )
        try:
            assert server.process.wait(timeout=60) == 1
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server kept running without its gRPC port:\n{server.log()}")
    assert "cannot serve gRPC on 127.0.0.1:" in server.log()


def test_grpc_port_zero_serves_rest_only(start_server, iris_classifier):
    server = start_server(
        model_dir=iris_classifier.directory, artifact_sha256=iris_classifier.sha256, grpc_port=0
    )
    assert "v2 gRPC on" not in server.log()
    assert requests.get(server.url + "/v2/health/ready", timeout=10).status_code == 200
