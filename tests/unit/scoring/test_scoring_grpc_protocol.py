"""Our v2 gRPC messages are the protocol's (field for field those of Triton's client), the
committed descriptor is what protoc makes of inference.proto, and the codec reads every datatype
as the REST codec does. No server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from modelserve_scoring import codecs, errors
from modelserve_scoring.codecs import ModelShape
from modelserve_scoring.errors import BadRequest
from modelserve_scoring.v2grpc import codec
from modelserve_scoring.v2grpc import protocol as pb
from modelserve_scoring.v2grpc.service import status_code
from tritonclient.grpc import service_pb2 as triton_pb2

REPO = Path(__file__).resolve().parents[3]
NUMBERS = ModelShape(n_features=2, feature_names=None)
STRINGS = ModelShape(n_features=2, feature_names=["colour", "size"])


def _fields(descriptor) -> dict:
    """A message's fields (number, type, label, message type name) and its nested messages."""
    fields = {
        f.name: (
            f.number,
            f.type,
            f.is_repeated,
            f.message_type.full_name if f.message_type else None,
            f.containing_oneof.name if f.containing_oneof else None,
        )
        for f in descriptor.fields
    }
    nested = {n.name: _fields(n) for n in descriptor.nested_types}
    return {"fields": fields, "nested": nested}


@pytest.mark.parametrize("method", sorted(pb.service_methods()))
def test_every_message_is_tritons(method):
    """Same package, names, field numbers and types: Triton's clients read our messages."""
    request_name, response_name = pb.service_methods()[method]
    triton_service = triton_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    triton_method = triton_service.methods_by_name[method]
    assert (triton_method.input_type.full_name, triton_method.output_type.full_name) == (
        f"inference.{request_name}",
        f"inference.{response_name}",
    )
    for name in (request_name, response_name):
        ours = getattr(pb, name).DESCRIPTOR
        theirs = triton_pb2.DESCRIPTOR.message_types_by_name[name]
        assert _fields(ours) == _fields(theirs)


def test_the_descriptor_is_generated_from_the_proto():
    result = subprocess.run(
        [str(REPO / "hack" / "generate-grpc.sh"), "--check"],
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _request(*tensors, raw: list[bytes] | None = None, **fields) -> bytes:
    message = pb.ModelInferRequest(model_name="m", **fields)
    for name, datatype, shape, contents in tensors:
        tensor = message.inputs.add(name=name, datatype=datatype, shape=shape)
        for field, values in (contents or {}).items():
            getattr(tensor.contents, field).extend(values)
    if raw is not None:
        message.raw_input_contents.extend(raw)
    return message.SerializeToString()


@pytest.mark.parametrize(
    ("datatype", "values"),
    [
        ("FP32", np.array([[1.5, -2.0], [3.25, 4.0]], dtype=np.float32)),
        ("FP64", np.array([[1.5, -2.0], [3.25, 1e300]])),
        ("INT64", np.array([[1, -2], [2**40, 4]], dtype=np.int64)),
        ("INT32", np.array([[1, -2], [3, 4]], dtype=np.int32)),
        ("INT8", np.array([[1, -2], [3, 4]], dtype=np.int8)),
        ("UINT8", np.array([[1, 2], [3, 255]], dtype=np.uint8)),
        ("BOOL", np.array([[True, False], [False, True]])),
    ],
)
def test_typed_and_raw_contents_give_the_rows_rest_gives(datatype, values):
    field = codec.CONTENTS_FIELD[datatype]
    typed = codec.parse_request(
        _request(("x", datatype, [2, 2], {field: values.ravel().tolist()})), NUMBERS
    )
    raw = codec.parse_request(
        _request(("x", datatype, [2, 2], None), raw=[values.tobytes()]), NUMBERS
    )
    json_body = codecs.dumps(
        {"inputs": [{"name": "x", "datatype": datatype, "shape": [2, 2], "data": values.tolist()}]}
    )
    rest = codecs.parse_v2(json_body, None, NUMBERS)
    np.testing.assert_array_equal(typed.rows, rest.rows)
    np.testing.assert_array_equal(raw.rows, rest.rows)
    assert typed.rows.dtype == np.float64 and not typed.raw and raw.raw


def test_bytes_columns_typed_and_raw():
    colours = [b"red", b"gr\xc3\xbcn"]
    raw_colours = b"".join(len(c).to_bytes(4, "little") + c for c in colours)
    sizes = np.array([1.0, 2.0])
    typed = codec.parse_request(
        _request(
            ("colour", "BYTES", [2], {"bytes_contents": colours}),
            ("size", "FP64", [2], {"fp64_contents": sizes.tolist()}),
        ),
        STRINGS,
    )
    assert typed.rows.tolist() == [["red", 1.0], ["grün", 2.0]]
    raw = codec.parse_request(
        _request(
            ("size", "FP64", [2], None),
            ("colour", "BYTES", [2], None),
            raw=[sizes.tobytes(), raw_colours],
        ),
        STRINGS,
    )
    assert raw.rows.tolist() == [["red", 1.0], ["grün", 2.0]]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (
            _request(("x", "INT8", [1, 2], {"int_contents": [1, 300]})),
            "300 is out of range for INT8",
        ),
        (_request(("x", "FP64", [1, 2], {"fp64_contents": [1.0]})), "has 1 elements but shape"),
        (_request(("x", "FP64", [1, 2], {"int64_contents": [1, 2]})), "go in contents.fp64"),
        (_request(("x", "BOOL", [1, 2], None), raw=[b"\x00\x02"]), "bytes 0 or 1"),
        (_request(("x", "FP64", [0, 2], None)), "holds no elements"),
        (_request(("x", "FP64", [1, 3], {"fp64_contents": [1, 2, 3]})), "expected 2 features"),
        (_request(("x", "BYTES", [1, 2], {"bytes_contents": [b"a", b"b"]})), "takes numbers"),
        (_request(("x", "FP64", [1, 2], None), raw=[b"\x00" * 8]), "holds 8 bytes"),
    ],
)
def test_refusals_name_the_problem(body, named):
    with pytest.raises(BadRequest) as refused:
        codec.parse_request(body, NUMBERS)
    assert named in refused.value.message


def test_probabilities_parameter_and_requested_outputs():
    message = pb.ModelInferRequest(model_name="m", id="abc")
    message.inputs.add(name="x", datatype="FP64", shape=[1, 2]).contents.fp64_contents.extend(
        [1, 2]
    )
    message.parameters["probabilities"].bool_param = True
    inference = codec.parse_request(message.SerializeToString(), NUMBERS)
    assert (inference.want_predict, inference.want_proba, inference.request_id) == (
        True,
        True,
        "abc",
    )
    message.parameters["probabilities"].string_param = "maybe"
    with pytest.raises(BadRequest, match=r"parameters\.probabilities must be true or false"):
        codec.parse_request(message.SerializeToString(), NUMBERS)
    del message.parameters["probabilities"]
    message.outputs.add(name="predict_proba")
    inference = codec.parse_request(message.SerializeToString(), NUMBERS)
    assert (inference.want_predict, inference.want_proba) == (False, True)


def test_answers_typed_or_raw_as_asked():
    preds = np.array(["setosa", "virginica"], dtype=object)
    proba = np.array([[0.9, 0.1], [0.2, 0.8]])
    for raw in (False, True):
        inference = codecs.Inference(np.zeros((2, 2)), True, True, "r", raw=raw)
        answer = pb.ModelInferResponse.FromString(
            codec.encode("v2_infer", inference, preds, proba, ["setosa", "virginica"], "m", "1")
        )
        theirs = triton_pb2.ModelInferResponse.FromString(answer.SerializeToString())
        assert [o.datatype for o in theirs.outputs] == ["BYTES", "FP64"]
        assert theirs.outputs[1].parameters["classes"].string_param == '["setosa","virginica"]'
        if raw:
            assert theirs.raw_output_contents[0] == (
                b"\x06\x00\x00\x00setosa\x09\x00\x00\x00virginica"
            )
            assert np.frombuffer(theirs.raw_output_contents[1]).tolist() == proba.ravel().tolist()
        else:
            assert list(theirs.outputs[0].contents.bytes_contents) == [b"setosa", b"virginica"]
            assert list(theirs.outputs[1].contents.fp64_contents) == proba.ravel().tolist()


def test_every_refusal_has_the_grpc_code_of_its_http_status():
    code = grpc.StatusCode
    expected = {
        "BadRequest": code.INVALID_ARGUMENT,
        "NotFound": code.NOT_FOUND,
        "MethodNotAllowed": code.UNIMPLEMENTED,
        "BodyTimeout": code.DEADLINE_EXCEEDED,
        "Conflict": code.ALREADY_EXISTS,
        "PayloadTooLarge": code.RESOURCE_EXHAUSTED,
        "UnsupportedMediaType": code.INVALID_ARGUMENT,
        "Unprocessable": code.INVALID_ARGUMENT,
        "TooManyRequests": code.RESOURCE_EXHAUSTED,
        "ClientGone": code.CANCELLED,
        "ServerFault": code.INTERNAL,
        "NotReady": code.UNAVAILABLE,
        "RequestTimeout": code.DEADLINE_EXCEEDED,
    }
    refusals = {
        cls.__name__: status_code(cls.status) for cls in errors.ScoringError.__subclasses__()
    }
    assert refusals == expected
    # a status without a pairing still falls on the right side of client / server fault
    assert status_code(418) == code.INVALID_ARGUMENT and status_code(502) == code.INTERNAL
