"""Missing values over real HTTP and gRPC (JSON null, NaN): XGBoost and LightGBM answer a null
cell as their library answers NaN; a model that cannot take them gets a 400 naming the input,
counted as the client's mistake, and never fails the other requests of its micro-batch."""

from __future__ import annotations

import json
import threading

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import requests
import xgboost as xgb
from grpc_helpers import grpc_stub, refusal, typed_request
from scoring_helpers import sha256_of
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

# the smallest sample the setting allows: the check itself is tested in test_scoring_boosters
FAST_CHECK = {"onnx_validation_rows": 1000, "compile_before_ready": "true"}
ROWS = 40
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
FEATURES = ["tenure", "spend", "visits", "age"]


def _training_data():
    rng = np.random.default_rng(23)
    X = rng.normal(size=(300, 4))
    three = np.digitize(X[:, 0] - X[:, 2], [-0.5, 0.5])
    X[rng.random(X.shape) < 0.15] = np.nan  # the trees learn where missing values go
    return X, three


def _request_rows() -> np.ndarray:
    """Rows with a missing cell in every column, a row missing everything, and full rows."""
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(ROWS, 4))
    rows[np.arange(0, ROWS, 2), np.arange(0, ROWS, 2) % 4] = np.nan
    rows[-1] = np.nan
    return rows


def _nulls(rows: np.ndarray) -> list:
    """The rows as JSON sends them: null for each NaN."""
    return [[None if np.isnan(v) else float(v) for v in row] for row in rows]


def _serve(start_module_server, directory, model, framework: str, **settings):
    artifact = directory / "model.joblib"
    joblib.dump(model, artifact)
    return start_module_server(
        model_dir=directory,
        artifact_sha256=sha256_of(artifact),
        framework=framework,
        **FAST_CHECK,
        **settings,
    )


@pytest.fixture(scope="module")
def boosters(start_module_server, tmp_path_factory):
    X, three = _training_data()
    served = {}
    for library, estimator in (
        ("xgboost", xgb.XGBClassifier(n_estimators=12, max_depth=3)),
        ("lightgbm", lgb.LGBMClassifier(n_estimators=12, verbose=-1)),
    ):
        model = estimator.fit(X, three)
        directory = tmp_path_factory.mktemp(library)
        served[library] = (_serve(start_module_server, directory, model, library), model)
    # fit on a DataFrame: it knows its column names, and refuses columns of Python objects
    frame = pd.DataFrame(X, columns=FEATURES)
    model = xgb.XGBClassifier(n_estimators=12, max_depth=3).fit(frame, three)
    directory = tmp_path_factory.mktemp("frame")
    served["frame"] = (_serve(start_module_server, directory, model, "xgboost"), model)
    return served


@pytest.fixture(scope="module")
def linear(start_module_server, tmp_path_factory):
    """A LogisticRegression (no missing values) compiled to ONNX Runtime, micro-batching."""
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    server = _serve(
        start_module_server,
        tmp_path_factory.mktemp("linear"),
        model,
        "sklearn",
        model_name="iris",
        max_batch_delay_ms=50,
        decode_offload_bytes=1,  # every body is decoded off the loop: the batcher waits for it
    )
    return server, model


def _v2_tensor(rows, datatype: str = "FP64", name: str = "x") -> dict:
    data = rows if isinstance(rows, list) else _nulls(rows)
    return {"name": name, "shape": [len(data), len(data[0])], "datatype": datatype, "data": data}


def _answers(server, route: str, body: dict) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, probabilities) of one JSON request."""
    response = requests.post(server.url + route, json=body, timeout=30)
    assert response.status_code == 200, response.text
    answer = response.json()
    if route.endswith("/infer"):
        outputs = {o["name"]: o for o in answer["outputs"]}
        proba = outputs["predict_proba"]
        return (
            np.array(outputs["predict"]["data"]),
            np.array(proba["data"]).reshape(proba["shape"]),
        )
    if "predictions" in answer:
        return np.array(answer["predictions"]), np.array(answer["probabilities"])
    raise AssertionError(f"no probabilities in {answer}")


def _check(got: tuple[np.ndarray, np.ndarray], model, rows: np.ndarray, what: str) -> None:
    predictions, proba = got
    np.testing.assert_array_equal(predictions, model.predict(rows), err_msg=what)
    # XGBoost answers from its float32 ONNX graph (checked to 1e-5), LightGBM from float64
    np.testing.assert_allclose(proba, model.predict_proba(rows), rtol=0, atol=1e-5, err_msg=what)


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_null_cells_are_answered_as_the_library_answers_nan(boosters, library):
    server, model = boosters[library]
    runtime = server.settled_metadata()["parameters"]["runtime"]
    assert runtime == "onnx"  # both graphs were checked on NaN rows and answer them
    rows = _request_rows()
    nulls = _nulls(rows)
    rows32 = rows.astype(np.float32).astype(np.float64)
    for what, route, body, expected in [
        ("score", "/score", {"data": nulls, "probabilities": True}, rows),
        (
            "score split",
            "/score?probabilities=true",
            {"input_data": {"columns": ["a", "b", "c", "d"], "data": nulls}},
            rows,
        ),
        ("v1", "/v1/models/model:predict", {"instances": nulls, "probabilities": True}, rows),
        ("v2 FP64", "/v2/models/model/infer", {"inputs": [_v2_tensor(rows)]}, rows),
        ("v2 FP32", "/v2/models/model/infer", {"inputs": [_v2_tensor(rows, "FP32")]}, rows32),
        (
            "v2 one tensor per feature",
            "/v2/models/model/infer",
            {
                "inputs": [
                    {"name": f"f{i}", "shape": [ROWS], "datatype": "FP64", "data": column}
                    for i, column in enumerate(zip(*nulls, strict=True))
                ]
            },
            rows,
        ),
    ]:
        if route.endswith("/infer"):
            body["parameters"] = {"probabilities": True}
        _check(_answers(server, route, body), model, expected, f"{library} {what}")


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_grpc_fp64_nan_is_answered_as_the_library_answers_it(boosters, library):
    server, model = boosters[library]
    rows = _request_rows()
    request = typed_request("model", rows, "FP64", "fp64_contents")
    request.outputs.add(name="predict")
    request.outputs.add(name="predict_proba")
    with grpc_stub(server) as stub:
        answer = stub.ModelInfer(request, timeout=30)
    outputs = {o.name: o for o in answer.outputs}
    predictions = np.array(outputs["predict"].contents.int64_contents)
    proba = np.array(outputs["predict_proba"].contents.fp64_contents).reshape(ROWS, -1)
    _check((predictions, proba), model, rows, f"{library} gRPC")


def test_a_model_fit_on_a_dataframe_takes_null_cells_by_column_name(boosters):
    server, model = boosters["frame"]
    rows = _request_rows()
    frame = pd.DataFrame(rows, columns=FEATURES)
    order = [3, 1, 0, 2]  # the columns in another order than the model's
    columns = [FEATURES[i] for i in order]
    body = {"input_data": {"columns": columns, "data": _nulls(rows[:, order])}}
    got = _answers(server, "/score?probabilities=true", body)
    _check(got, model, frame, "split orientation, columns by name")
    tensors = [
        _v2_tensor(frame[[name]].to_numpy(), name=name)  # shape [ROWS, 1]
        for name in columns
    ]
    body = {"inputs": tensors, "parameters": {"probabilities": True}}
    _check(_answers(server, "/v2/models/model/infer", body), model, frame, "v2 by name")


def _count(server, status: str) -> float:
    text = requests.get(server.metrics_url, timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("modelserve_requests_total{") and f'status="{status}"' in line
    )


def test_a_model_without_missing_values_refuses_them_naming_the_input(linear):
    server, _ = linear
    # compiled: ONNX Runtime would answer NaN rows, but hands them to scikit-learn, which refuses
    assert server.settled_metadata("iris")["parameters"]["runtime"] == "onnx"
    row = [5.1, None, 1.4, 0.2]
    binary = np.array([[5.1, np.nan, 1.4, 0.2]])
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [1, 4],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": binary.nbytes},
                }
            ]
        }
    ).encode()
    sent = [
        ("/score", {"data": [IRIS_ROW, row]}, {}, "data row 1, column 1"),
        ("/score", {"input_data": {"data": [row]}}, {}, "input_data.data row 0, column 1"),
        ("/v1/models/iris:predict", {"instances": [row]}, {}, "instances row 0, column 1"),
        (
            "/v2/models/iris/infer",
            {"inputs": [_v2_tensor([row], "FP32", name="petals")]},
            {},
            "inputs[0] (input 'petals') row 0, column 1",
        ),
        (
            "/v2/models/iris/infer",
            header + binary.tobytes(),
            {"Inference-Header-Content-Length": str(len(header))},
            "inputs[0] (input 'x') row 0, column 1",
        ),
    ]
    before_400, before_5xx = _count(server, "400"), _count(server, "5")
    before = requests.get(server.url + "/monitoring/requests", timeout=10).json()
    for route, body, headers, where in sent:
        if isinstance(body, bytes):
            response = requests.post(server.url + route, data=body, headers=headers, timeout=30)
        else:
            response = requests.post(server.url + route, json=body, timeout=30)
        assert response.status_code == 400, (route, response.text)
        message = response.json()["error"]
        assert message.startswith(where), message
        assert "does not accept missing values" in message, message
        assert "Input X contains NaN" in message, message  # scikit-learn's own words
    assert _count(server, "400") - before_400 == len(sent)
    assert _count(server, "5") == before_5xx
    after = requests.get(server.url + "/monitoring/requests", timeout=10).json()
    assert after["serverErrors"] == before["serverErrors"]
    assert after["answered"] - before["answered"] == len(sent)


def test_grpc_nan_for_a_model_without_missing_values_is_invalid_argument(linear):
    server, _ = linear
    rows = np.array([[5.1, 3.5, np.nan, 0.2]])
    with grpc_stub(server) as stub:
        error = refusal(stub.ModelInfer, typed_request("iris", rows, "FP64", "fp64_contents"))
    assert error.code().name == "INVALID_ARGUMENT"
    assert error.details().startswith("inputs[0] (input 'input-0') row 0, column 2")
    assert "does not accept missing values" in error.details()


@pytest.mark.parametrize(
    ("datatype", "data"),
    [("INT64", [5, None, 1, 0]), ("INT32", [[5, 3, None, 0]]), ("BOOL", [True, None, False, True])],
)
def test_integer_and_bool_tensors_refuse_null(linear, datatype, data):
    server, _ = linear
    tensor = {"name": "counts", "shape": [1, 4], "datatype": datatype, "data": data}
    response = requests.post(
        server.url + "/v2/models/iris/infer", json={"inputs": [tensor]}, timeout=30
    )
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert message.startswith("inputs[0].data (input 'counts')"), message
    assert f"{datatype} tensors cannot hold missing values (null)" in message, message


def _batches(server) -> tuple[float, float]:
    """(predict batches, rows) of modelserve_batch_size_rows so far."""
    found = {}
    for line in requests.get(server.metrics_url, timeout=10).text.splitlines():
        for part in ("count", "sum"):
            if line.startswith(f"modelserve_batch_size_rows_{part}{{"):
                found[part] = float(line.rsplit(" ", 1)[1])
    return found["count"], found["sum"]


GOOD_ROWS = [IRIS_ROW, [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
CALLERS = 21
#: the caller whose row has a null
WITH_NULL = 7


def _all_at_once(server) -> dict[int, requests.Response]:
    """CALLERS requests to /score released together; one of them holds a null."""
    barrier = threading.Barrier(CALLERS)
    results: dict[int, requests.Response] = {}

    def call(i: int) -> None:
        rows = [[6.1, 2.8, None, 1.2]] if i == WITH_NULL else [GOOD_ROWS[i % 3]]
        barrier.wait(timeout=30)
        results[i] = requests.post(server.url + "/score", json={"data": rows}, timeout=30)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_one_clients_missing_values_do_not_fail_the_others_in_its_batch(linear):
    """20 good requests and 1 with a null, sent at once, in several rounds: always 20 right
    answers and one 400, every row predicted once. Whether the null request shares a predict
    batch depends on timing, so this test does not require it; the batcher's own tests show
    deterministically that a refused request in a shared batch fails alone."""
    server, model = linear
    shared_rounds = 0
    for _round in range(5):
        batches_before, rows_before = _batches(server)
        results = _all_at_once(server)
        assert sorted(results) == list(range(CALLERS))
        for i, response in results.items():
            if i == WITH_NULL:
                assert response.status_code == 400, response.text
                assert "does not accept missing values" in response.json()["error"]
            else:
                assert response.status_code == 200, (i, response.text)
                assert response.json() == model.predict([GOOD_ROWS[i % 3]]).tolist()
        batches, rows = _batches(server)
        assert rows - rows_before == CALLERS  # every row went to a predict batch once
        shared_rounds += batches - batches_before < CALLERS
    print(f"rounds in which some requests shared a predict batch: {shared_rounds} of 5")
