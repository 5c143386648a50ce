"""Every kind of bad input gets a 4xx naming the problem, over real HTTP, and the server goes on
serving."""

from __future__ import annotations

import pytest
import requests

GOOD_ROW = [5.1, 3.5, 1.4, 0.2]


def v2(rows, datatype="FP64", shape=None):
    return {
        "inputs": [
            {
                "name": "x",
                "shape": shape if shape is not None else [len(rows), len(rows[0]) if rows else 0],
                "datatype": datatype,
                "data": rows,
            }
        ]
    }


CASES = [
    # (id, method, path, body (bytes or JSON), status, words the message must contain)
    ("malformed-json-score", "/score", b'{"data": [[1, 2,', 400, ["malformed JSON"]),
    ("malformed-json-v2", "/v2/models/iris/infer", b"{nope", 400, ["malformed JSON"]),
    ("malformed-json-v1", "/v1/models/iris:predict", b"[", 400, ["malformed JSON"]),
    ("empty-body", "/score", b"", 400, ["empty"]),
    ("wrong-feature-count-score", "/score", {"data": [[1.0, 2.0, 3.0]]}, 400,
     ["data", "expected 4 features", "got 3"]),
    ("wrong-feature-count-v1", "/v1/models/iris:predict", {"instances": [[1.0] * 5]}, 400,
     ["instances", "expected 4 features", "got 5"]),
    ("wrong-feature-count-v2", "/v2/models/iris/infer", v2([[1.0, 2.0]]), 400,
     ["inputs[0]", "expected 4 features"]),
    ("string-in-score", "/score", {"data": [[5.1, "wide", 1.4, 0.2]]}, 400,
     ["data", "numbers", "'wide'"]),
    ("null-in-v1", "/v1/models/iris:predict", {"instances": [[5.1, None, 1.4, 0.2]]}, 400,
     ["instances row 0, column 1", "does not accept missing values"]),
    ("string-in-v2", "/v2/models/iris/infer", v2([["a", "b", "c", "d"]]), 400,
     ["inputs[0].data", "FP64", "'a'"]),
    ("unknown-v2-datatype", "/v2/models/iris/infer", v2([GOOD_ROW], datatype="FP128"), 400,
     ["inputs[0].datatype", "FP128"]),
    ("fraction-in-int-tensor", "/v2/models/iris/infer", v2([GOOD_ROW], datatype="INT32"), 400,
     ["INT32"]),
    ("shape-data-mismatch", "/v2/models/iris/infer", v2([GOOD_ROW], shape=[2, 4]), 400,
     ["inputs[0].data", "shape [2, 4]"]),
    ("ragged-rows", "/score", {"data": [GOOD_ROW, [1.0, 2.0]]}, 400, ["data", "same number"]),
    ("empty-batch-score", "/score", {"data": []}, 400, ["data", "empty batch"]),
    ("empty-batch-v1", "/v1/models/iris:predict", {"instances": []}, 400, ["empty batch"]),
    ("empty-batch-v2", "/v2/models/iris/infer", v2([], shape=[0, 4]), 400, ["empty batch"]),
    ("no-inputs-v2", "/v2/models/iris/infer", {"inputs": []}, 400, ["inputs"]),
    ("missing-data-key", "/score", {"rows": [GOOD_ROW]}, 400, ['"data"', '"input_data"']),
    ("flat-list", "/score", {"data": GOOD_ROW}, 400, ["data", "2-D"]),
    ("unknown-output", "/v2/models/iris/infer",
     {**v2([GOOD_ROW]), "outputs": [{"name": "logits"}]}, 400, ["outputs[0].name", "logits"]),
    ("bad-probabilities-flag", "/score", {"data": [GOOD_ROW], "probabilities": "maybe"}, 400,
     ["probabilities"]),
    ("unknown-model-v2", "/v2/models/nope/infer", v2([GOOD_ROW]), 404, ["'nope'"]),
    ("unknown-version-v2", "/v2/models/iris/versions/9/infer", v2([GOOD_ROW]), 404,
     ["version", "'9'"]),
    ("unknown-model-v1", "/v1/models/nope:predict", {"instances": [GOOD_ROW]}, 404, ["'nope'"]),
]  # fmt: skip


def _send(url: str, body):
    if isinstance(body, bytes):
        return requests.post(
            url, data=body, headers={"content-type": "application/json"}, timeout=10
        )
    return requests.post(url, json=body, timeout=10)


@pytest.mark.parametrize(
    ("path", "body", "status", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_gets_a_clear_4xx(iris_server, path, body, status, words):
    response = _send(iris_server.url + path, body)
    assert response.status_code == status, response.text
    message = response.json()["error"]
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    # and the server keeps serving
    ok = requests.post(iris_server.url + "/score", json={"data": [GOOD_ROW]}, timeout=10)
    assert ok.status_code == 200


def test_unknown_model_metadata_is_404(iris_server):
    assert requests.get(iris_server.url + "/v2/models/nope", timeout=10).status_code == 404
    missing = requests.get(iris_server.url + "/v2/models/iris/versions/2", timeout=10)
    assert missing.status_code == 404 and "'2'" in missing.json()["error"]
    assert requests.get(iris_server.url + "/v1/models/nope", timeout=10).status_code == 404


def test_body_over_the_limit_is_413(iris_server):
    """The iris server runs with MAX_BODY_BYTES = 64 KiB."""
    big = {"data": [GOOD_ROW] * 5000}  # ~100 KB of JSON
    response = requests.post(iris_server.url + "/score", json=big, timeout=10)
    assert response.status_code == 413
    assert "65536-byte limit" in response.json()["error"]


def test_chunked_body_over_the_limit_is_413(iris_server):
    """Without a Content-Length the limit is enforced while reading."""

    def chunks():
        yield b'{"data": ['
        for _ in range(5000):
            yield b"[5.1, 3.5, 1.4, 0.2],"
        yield b"[5.1, 3.5, 1.4, 0.2]]}"

    response = requests.post(iris_server.url + "/score", data=chunks(), timeout=10)
    assert response.status_code == 413


def test_bad_requests_are_counted_in_metrics(iris_server):
    _send(iris_server.url + "/score", b"{")
    metrics = requests.get(iris_server.metrics_url, timeout=10).text
    assert (
        'modelserve_requests_total{deployment="blue",model="iris",protocol="rest",route="score",'
        'status="400",version="3"}' in metrics
    )
