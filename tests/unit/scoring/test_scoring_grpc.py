"""The v2 gRPC service of a real server, called with Triton's client (tritonclient[grpc]) over
loopback: health, metadata, inference with typed and raw contents, the same answers as REST,
and the metrics' protocol label."""

from __future__ import annotations

import json

import grpc
import joblib
import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.grpc as triton
from grpc_helpers import (
    grpc_stub,
    metric_lines,
    raw_input,
    refusal,
    rest_v2,
    typed_request,
    wait_grpc_live,
)
from scoring_helpers import sha256_of
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from tritonclient.grpc import service_pb2


@pytest.fixture(scope="module")
def client(iris_server) -> triton.InferenceServerClient:
    wait_grpc_live(iris_server)
    return triton.InferenceServerClient(iris_server.grpc_target)


@pytest.fixture(scope="module")
def stub(iris_server):
    with grpc_stub(iris_server) as stub:
        yield stub


def test_health_over_grpc(client, stub):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert client.is_model_ready("iris", "3")
    error = refusal(stub.ModelReady, service_pb2.ModelReadyRequest(name="iris", version="4"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "no version '4'" in error.details()


def test_metadata_over_grpc_is_rests(iris_server, client):
    server = client.get_server_metadata()
    assert server.name == "modelserve"
    assert server.version == requests.get(iris_server.url + "/v2", timeout=10).json()["version"]
    model = client.get_model_metadata("iris", as_json=True)
    rest = requests.get(iris_server.url + "/v2/models/iris", timeout=10).json()
    assert model["name"] == "iris" and model["versions"] == ["3"]
    assert model["platform"] == rest["platform"]
    for kind in ("inputs", "outputs"):
        assert [
            {"name": t["name"], "datatype": t["datatype"], "shape": [int(d) for d in t["shape"]]}
            for t in model[kind]
        ] == rest[kind]


def test_raw_inference_answers_as_rest_does(iris_server, client, iris_classifier):
    rows = np.asarray(iris_classifier.X, dtype=np.float64)
    result = client.infer(
        "iris",
        [raw_input("input-0", rows, "FP64")],
        model_version="3",
        outputs=[
            triton.InferRequestedOutput("predict"),
            triton.InferRequestedOutput("predict_proba"),
        ],
        request_id="raw-1",
    )
    rest = rest_v2(
        iris_server,
        "iris",
        [{"name": "input-0", "datatype": "FP64", "shape": list(rows.shape), "data": rows.tolist()}],
        probabilities=True,
    )
    np.testing.assert_array_equal(result.as_numpy("predict"), rest["predict"]["data"])
    np.testing.assert_array_equal(
        result.as_numpy("predict_proba").ravel(), rest["predict_proba"]["data"]
    )
    np.testing.assert_array_equal(
        result.as_numpy("predict"), iris_classifier.estimator.predict(rows)
    )
    response = result.get_response()
    # raw inputs are answered with raw outputs, as Triton answers them
    assert len(response.raw_output_contents) == 2
    assert not response.outputs[0].HasField("contents")
    assert response.id == "raw-1" and response.model_version == "3"
    classes = result.get_output("predict_proba").parameters["classes"].string_param
    assert json.loads(classes) == rest["predict_proba"]["parameters"]["classes"]


@pytest.mark.parametrize(
    ("datatype", "field", "dtype"),
    [
        ("FP64", "fp64_contents", np.float64),
        ("FP32", "fp32_contents", np.float32),
        ("INT64", "int64_contents", np.int64),
        ("INT32", "int_contents", np.int32),
    ],
)
def test_typed_contents_answer_as_rest_does(
    iris_server, stub, iris_classifier, datatype, field, dtype
):
    rows = (np.asarray(iris_classifier.X) * (10 if dtype in (np.int64, np.int32) else 1)).astype(
        dtype
    )
    answer = stub.ModelInfer(typed_request("iris", rows, datatype, field, id="typed"), timeout=30)
    rest = rest_v2(
        iris_server,
        "iris",
        [
            {
                "name": "input-0",
                "datatype": datatype,
                "shape": list(rows.shape),
                "data": rows.tolist(),
            }
        ],
    )
    # typed inputs are answered with typed outputs
    assert not answer.raw_output_contents
    (output,) = answer.outputs
    assert (output.name, output.datatype, list(output.shape)) == (
        "predict",
        rest["predict"]["datatype"],
        rest["predict"]["shape"],
    )
    assert list(output.contents.int64_contents) == rest["predict"]["data"]
    assert answer.id == "typed"


def test_request_id_comes_back_in_trailing_metadata(stub, iris_classifier):
    rows = np.asarray(iris_classifier.X[:2], dtype=np.float64)
    request = typed_request("iris", rows, "FP64", "fp64_contents")
    _, call = stub.ModelInfer.with_call(request, metadata=[("x-request-id", "my-id-7")], timeout=30)
    assert ("x-request-id", "my-id-7") in call.trailing_metadata()


def test_metrics_carry_the_protocol(iris_server, stub, iris_classifier):
    rows = np.asarray(iris_classifier.X[:1], dtype=np.float64)
    stub.ModelInfer(typed_request("iris", rows, "FP64", "fp64_contents"), timeout=30)
    rest_v2(
        iris_server,
        "iris",
        [{"name": "input-0", "datatype": "FP64", "shape": [1, 4], "data": rows.tolist()}],
    )
    requests_total = metric_lines(iris_server, "modelserve_requests_total")
    for protocol in ("rest", "grpc"):
        assert any(
            f'protocol="{protocol}",route="v2_infer",status="200"' in line
            for line in requests_total
        ), requests_total
        assert any(
            f'protocol="{protocol}",route="v2_infer"' in line
            for line in metric_lines(iris_server, "modelserve_request_duration_seconds_count")
        )


@pytest.fixture(scope="module")
def sizes_server(start_module_server, tmp_path_factory):
    """A Pipeline fit on a DataFrame with a text column and string classes: BYTES both ways."""
    colours = np.array(["red", "green", "blue"] * 20, dtype=object)
    sizes = np.arange(60, dtype=np.float64)
    frame = pd.DataFrame({"colour": colours, "size": sizes})
    labels = np.where(sizes > 30, "big", "small")
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["colour"]), remainder="passthrough"),
        LogisticRegression(max_iter=1000),
    ).fit(frame, labels)
    directory = tmp_path_factory.mktemp("sizes")
    joblib.dump(model, directory / "model.joblib")
    server = start_module_server(
        model_dir=directory,
        artifact_sha256=sha256_of(directory / "model.joblib"),
        model_name="sizes",
    )
    wait_grpc_live(server)
    return server, model, frame


def test_bytes_columns_and_string_classes(sizes_server):
    server, model, frame = sizes_server
    rows = frame.iloc[[0, 40, 2]]
    colours, sizes = rows["colour"].to_numpy(), rows["size"].to_numpy()
    expected = model.predict(rows).tolist()
    client = triton.InferenceServerClient(server.grpc_target)
    # raw: tritonclient serialises BYTES with their lengths, and reads the answer's the same way
    result = client.infer(
        "sizes", [raw_input("colour", colours, "BYTES"), raw_input("size", sizes, "FP64")]
    )
    assert [v.decode() for v in result.as_numpy("predict")] == expected
    assert result.get_output("predict").datatype == "BYTES"
    # typed: bytes_contents in, bytes_contents out
    typed = service_pb2.ModelInferRequest(model_name="sizes")
    typed.inputs.add(name="colour", datatype="BYTES", shape=[3]).contents.bytes_contents.extend(
        [c.encode() for c in colours]
    )
    typed.inputs.add(name="size", datatype="FP64", shape=[3]).contents.fp64_contents.extend(sizes)
    with grpc_stub(server) as stub:
        answer = stub.ModelInfer(typed, timeout=30)
    assert [v.decode() for v in answer.outputs[0].contents.bytes_contents] == expected
    rest = rest_v2(
        server,
        "sizes",
        [
            {"name": "colour", "datatype": "BYTES", "shape": [3], "data": colours.tolist()},
            {"name": "size", "datatype": "FP64", "shape": [3], "data": sizes.tolist()},
        ],
    )
    assert rest["predict"]["data"] == expected


def test_a_large_message_is_decoded_in_the_worker_as_rest_bodies_are(
    diabetes_server, diabetes_regressor
):
    """Over DECODE_OFFLOAD_BYTES (256 KiB) the codec runs in the decode worker process."""
    rows = np.tile(np.asarray(diabetes_regressor.X, dtype=np.float64), (12, 1))  # 5304 x 10
    assert rows.nbytes > 256 * 1024
    wait_grpc_live(diabetes_server)
    client = triton.InferenceServerClient(diabetes_server.grpc_target)
    result = client.infer("diabetes", [raw_input("input-0", rows, "FP64")])
    np.testing.assert_allclose(
        result.as_numpy("predict"), diabetes_regressor.estimator.predict(rows), rtol=1e-9
    )
