"""Client mistakes are 4xx naming the problem and never count as server errors (issue 16, items
5, 6 and 7): oversized header numbers, empty giant shapes, values a declared datatype cannot
hold, and Content-Types that are not JSON."""

from __future__ import annotations

import pytest
import requests

ROW = [5.1, 3.5, 1.4, 0.2]


def _v2(datatype: str, data, shape=None, name: str = "x") -> dict:
    return {
        "inputs": [
            {
                "name": name,
                "shape": shape if shape is not None else [1, len(data)],
                "datatype": datatype,
                "data": data,
            }
        ]
    }


def _infer(server, body, headers=None) -> requests.Response:
    url = server.url + "/v2/models/iris/infer"
    if isinstance(body, bytes):
        return requests.post(url, data=body, headers=headers, timeout=10)
    return requests.post(url, json=body, headers=headers, timeout=10)


def _server_errors(server) -> int:
    return requests.get(server.url + "/monitoring/requests", timeout=10).json()["serverErrors"]


def _server_error_count_in_metrics(server) -> float:
    total = 0.0
    for line in requests.get(server.metrics_url, timeout=10).text.splitlines():
        if line.startswith("modelserve_requests_total{") and 'status="5' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


GARBAGE = [
    # (id, body, headers, words the message must name)
    (
        "header-length-of-5000-digits",
        b'{"inputs": []}',
        {"Inference-Header-Content-Length": "9" * 5000},
        ["Inference-Header-Content-Length"],
    ),
    (
        "header-length-not-a-number",
        b'{"inputs": []}',
        {"Inference-Header-Content-Length": "-3"},
        ["Inference-Header-Content-Length", "'-3'"],
    ),
    (
        "huge-shape-holding-nothing",
        _v2("FP64", [], shape=[2305843009213693952, 0]),
        None,
        ["inputs[0].shape", "no elements"],
    ),
    ("too-many-dimensions", _v2("FP64", [1.0], shape=[1] * 40), None, ["dimensions"]),
    # JSON true is 1 to Python's int checks; it is no dimension
    ("boolean-dimension", _v2("FP64", [5.1, 3.5, 1.4, 0.2], shape=[True, 4]), None, ["shape"]),
    ("negative-dimension", _v2("FP64", [5.1, 3.5, 1.4, 0.2], shape=[-1, 4]), None, ["shape"]),
    ("fractional-dimension", _v2("FP64", [5.1, 3.5, 1.4, 0.2], shape=[1.0, 4]), None, ["shape"]),
    ("datatype-a-list", _v2(["FP64"], [5.1, 3.5, 1.4, 0.2]), None, ["datatype", "string"]),
    ("datatype-an-object", _v2({"t": "FP64"}, [5.1, 3.5, 1.4, 0.2]), None, ["datatype"]),
    ("shape-not-a-list", _v2("FP64", [5.1, 3.5, 1.4, 0.2], shape={"rows": 1}), None, ["shape"]),
    ("bool-holding-integers", _v2("BOOL", [2, -5]), None, ["inputs[0].data", "'x'", "2", "BOOL"]),
    ("int8-over-range", _v2("INT8", [1000, 1, 2, 3]), None, ["'x'", "1000", "INT8", "-128 to 127"]),
    ("uint8-negative", _v2("UINT8", [1, -1, 2, 3]), None, ["'x'", "-1", "UINT8", "0 to 255"]),
    ("int32-over-range", _v2("INT32", [2**40, 1, 2, 3]), None, ["1099511627776", "INT32"]),
    ("fp16-over-range", _v2("FP16", [1e10, 1.0, 2.0, 3.0]), None, ["10000000000.0", "FP16"]),
    ("fp32-over-range", _v2("FP32", [1e39, 1.0, 2.0, 3.0]), None, ["FP32", "out of range"]),
    ("int64-beyond-64-bits", _v2("INT64", [2**70, 1, 2, 3]), None, ["INT64", "out of range"]),
    ("uint64-negative", _v2("UINT64", [-1, 1, 2, 3]), None, ["UINT64", "-1"]),
    ("boolean-in-int16", _v2("INT16", [True, 1, 2, 3]), None, ["True", "INT16"]),
    ("boolean-in-fp64", _v2("FP64", [5.1, True, 1.4, 0.2]), None, ["True", "FP64"]),
    ("string-in-int64", _v2("INT64", ["7", 1, 2, 3]), None, ["'7'", "INT64"]),
    ("fraction-in-uint16", _v2("UINT16", [1.5, 1, 2, 3]), None, ["1.5", "UINT16", "whole"]),
    ("bytes-for-a-numeric-model", _v2("BYTES", ["a", "b", "c", "d"]), None, ["BYTES"]),
]


@pytest.mark.parametrize(
    ("body", "headers", "words"), [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE]
)
def test_garbage_gets_a_4xx_naming_it(iris_server, body, headers, words):
    response = _infer(iris_server, body, headers)
    assert 400 <= response.status_code < 500, response.text
    message = response.json()["error"]
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_values_inside_their_datatype_are_scored(iris_server, iris_classifier):
    for datatype, row in (
        ("INT8", [5, 3, 1, 0]),
        ("UINT64", [5, 3, 1, 0]),
        ("FP16", [5.1, 3.5, 1.4, 0.2]),
        ("FP32", [5.1, 3.5, 1.4, 0.2]),
        ("BOOL", [True, False, True, False]),
    ):
        response = _infer(iris_server, _v2(datatype, row))
        assert response.status_code == 200, (datatype, response.text)


def test_client_garbage_never_counts_as_a_server_error(start_server, iris_classifier):
    """What rollouts read: /monitoring/requests serverErrors, and the 5xx series of
    modelserve_requests_total. Only faults of the server or the model may raise them."""
    server = start_server(
        model_dir=iris_classifier.directory,
        artifact_sha256=iris_classifier.sha256,
        model_name="iris",
    )
    for _, body, headers, _ in GARBAGE:
        assert _infer(server, body, headers).status_code < 500
    assert requests.post(server.url + "/score", data=b"\xff\xfe", timeout=10).status_code == 400
    assert _server_errors(server) == 0
    assert _server_error_count_in_metrics(server) == 0
    ok = requests.post(server.url + "/score", json={"data": [ROW]}, timeout=10)
    assert ok.status_code == 200
    counts = requests.get(server.url + "/monitoring/requests", timeout=10).json()
    assert (counts["answered"], counts["serverErrors"]) == (len(GARBAGE) + 2, 0)
    # what a rollout's successRate gate reads: garbage is answered, never a server fault


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_body_declared_as_something_else_than_json_gets_415(iris_server, content_type):
    for path, body in (
        ("/score", b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'),
        ("/v1/models/iris:predict", b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}'),
        ("/v2/models/iris/infer", b'{"inputs": []}'),
    ):
        response = requests.post(
            iris_server.url + path, data=body, headers={"Content-Type": content_type}, timeout=10
        )
        assert response.status_code == 415, (path, response.text)
        assert "application/json" in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Content-Type at all: tritonclient and bare clients send none
        {"Content-Type": "application/json"},
        {"Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": "application/vnd.example+json"},
    ],
)
def test_json_and_untyped_bodies_are_scored(iris_server, iris_classifier, headers):
    response = requests.post(
        iris_server.url + "/score",
        data=b'{"data": [[5.1, 3.5, 1.4, 0.2]]}',
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json() == iris_classifier.estimator.predict([ROW]).tolist()
