"""The three protocols over real HTTP against a running server, for a classifier, a regressor and
a Pipeline; predictions must equal the model's own."""

from __future__ import annotations

import numpy as np
import pytest
import requests
import tritonclient.http as triton

ROWS = 5


def test_v2_infer_returns_the_classifiers_predictions(iris_server, iris_classifier):
    X = iris_classifier.X[:ROWS]
    body = {
        "id": "req-1",
        "inputs": [{"name": "x", "shape": list(X.shape), "datatype": "FP64", "data": X.tolist()}],
    }
    response = requests.post(iris_server.url + "/v2/models/iris/infer", json=body, timeout=10)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_name"] == "iris" and answer["model_version"] == "3"
    assert answer["id"] == "req-1"
    [output] = answer["outputs"]
    assert output["name"] == "predict" and output["shape"] == [ROWS]
    assert output["data"] == iris_classifier.estimator.predict(X).tolist()


def test_v2_infer_with_version_and_probabilities(iris_server, iris_classifier):
    X = iris_classifier.X[:ROWS]
    body = {
        "inputs": [
            {"name": "x", "shape": [ROWS, 4], "datatype": "FP32", "data": X.ravel().tolist()}
        ],
        "parameters": {"probabilities": True},
    }
    response = requests.post(
        iris_server.url + "/v2/models/iris/versions/3/infer", json=body, timeout=10
    )
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert set(outputs) == {"predict", "predict_proba"}
    proba = np.array(outputs["predict_proba"]["data"]).reshape(outputs["predict_proba"]["shape"])
    expected = iris_classifier.estimator.predict_proba(X.astype(np.float32))
    np.testing.assert_allclose(proba, expected, rtol=1e-6)
    assert outputs["predict_proba"]["parameters"]["classes"] == [0, 1, 2]


def test_v2_asking_for_predict_proba_output_only(iris_server, iris_classifier):
    X = iris_classifier.X[:2]
    body = {
        "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": X.tolist()}],
        "outputs": [{"name": "predict_proba"}],
    }
    response = requests.post(iris_server.url + "/v2/models/iris/infer", json=body, timeout=10)
    assert [o["name"] for o in response.json()["outputs"]] == ["predict_proba"]


def test_tritonclient_speaks_to_the_server(iris_server, iris_classifier):
    """A v2 client no one here wrote, with its default binary tensors."""
    client = triton.InferenceServerClient(url=f"127.0.0.1:{iris_server.port}")
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("iris", "3")
        metadata = client.get_model_metadata("iris")
        assert metadata["inputs"][0]["shape"] == [-1, 4]
        X = iris_classifier.X[:ROWS].astype(np.float64)
        tensor = triton.InferInput("input-0", list(X.shape), "FP64")
        tensor.set_data_from_numpy(X)  # binary_data=True by default
        result = client.infer(
            "iris",
            [tensor],
            outputs=[
                triton.InferRequestedOutput("predict", binary_data=False),
                triton.InferRequestedOutput("predict_proba", binary_data=False),
            ],
        )
        np.testing.assert_array_equal(
            result.as_numpy("predict"), iris_classifier.estimator.predict(X)
        )
        assert result.as_numpy("predict_proba").shape == (ROWS, 3)
    finally:
        client.close()


def test_score_with_data_and_probabilities(iris_server, iris_classifier):
    X = iris_classifier.X[:ROWS]
    plain = requests.post(iris_server.url + "/score", json={"data": X.tolist()}, timeout=10)
    assert plain.status_code == 200
    assert plain.json() == iris_classifier.estimator.predict(X).tolist()
    with_proba = requests.post(
        iris_server.url + "/score?probabilities=true", json={"data": X.tolist()}, timeout=10
    ).json()
    assert with_proba["classes"] == [0, 1, 2]
    np.testing.assert_allclose(
        with_proba["probabilities"], iris_classifier.estimator.predict_proba(X), rtol=1e-9
    )


def test_kserve_v1_predict_and_status(iris_server, iris_classifier):
    X = iris_classifier.X[-3:]
    response = requests.post(
        iris_server.url + "/v1/models/iris:predict",
        json={"instances": X.tolist(), "probabilities": True},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["predictions"] == iris_classifier.estimator.predict(X).tolist()
    assert np.array(answer["probabilities"]).shape == (3, 3)
    status = requests.get(iris_server.url + "/v1/models/iris", timeout=10).json()
    assert status == {"name": "iris", "ready": True}


def test_v2_metadata_tells_what_loading_learnt(iris_server):
    server_meta = requests.get(iris_server.url + "/v2", timeout=10).json()
    assert server_meta["name"] == "modelserve"
    meta = requests.get(iris_server.url + "/v2/models/iris/versions/3", timeout=10).json()
    assert meta["name"] == "iris" and meta["versions"] == ["3"]
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert {o["name"]: o["shape"] for o in meta["outputs"]} == {
        "predict": [-1],
        "predict_proba": [-1, 3],
    }
    params = meta["parameters"]
    assert params["n_features"] == 4 and params["classes"] == [0, 1, 2]
    assert params["estimator"] == "LogisticRegression" and params["sklearn_version"]
    ready = requests.get(iris_server.url + "/v2/models/iris/versions/3/ready", timeout=10)
    assert ready.status_code == 200


def test_regressor_over_all_protocols(diabetes_server, diabetes_regressor):
    X = diabetes_regressor.X[:ROWS]
    expected = diabetes_regressor.estimator.predict(X)
    url = diabetes_server.url
    v2 = requests.post(
        url + "/v2/models/diabetes/infer",
        json={
            "inputs": [{"name": "x", "shape": [ROWS, 10], "datatype": "FP64", "data": X.tolist()}]
        },
        timeout=10,
    ).json()
    np.testing.assert_allclose(v2["outputs"][0]["data"], expected, rtol=1e-9)
    assert v2["outputs"][0]["datatype"] == "FP64"
    score = requests.post(url + "/score", json={"data": X.tolist()}, timeout=10).json()
    np.testing.assert_allclose(score, expected, rtol=1e-9)
    v1 = requests.post(
        url + "/v1/models/diabetes:predict", json={"instances": X.tolist()}, timeout=10
    ).json()
    np.testing.assert_allclose(v1["predictions"], expected, rtol=1e-9)


def test_regressor_refuses_probabilities_clearly(diabetes_server, diabetes_regressor):
    response = requests.post(
        diabetes_server.url + "/score?probabilities=true",
        json={"data": diabetes_regressor.X[:1].tolist()},
        timeout=10,
    )
    assert response.status_code == 400
    assert "predict_proba" in response.json()["error"]


def test_pipeline_takes_managed_endpoint_columns_in_any_order(cancer_server, cancer_pipeline):
    frame = cancer_pipeline.X.iloc[:ROWS]
    expected = cancer_pipeline.estimator.predict(frame).tolist()
    shuffled = frame[list(reversed(frame.columns))]
    body = {
        "input_data": {
            "columns": list(shuffled.columns),
            "index": list(range(ROWS)),
            "data": shuffled.to_numpy().tolist(),
        }
    }
    response = requests.post(cancer_server.url + "/score", json=body, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == expected
    meta = requests.get(cancer_server.url + "/v2/models/cancer", timeout=10).json()
    assert meta["parameters"]["feature_names"] == list(frame.columns)
    assert meta["parameters"]["estimator"] == "Pipeline"


def test_pipeline_reports_a_missing_column_by_name(cancer_server, cancer_pipeline):
    frame = cancer_pipeline.X.iloc[:1]
    columns = list(frame.columns)
    columns[0] = "not a feature"
    body = {"input_data": {"columns": columns, "data": frame.to_numpy().tolist()}}
    response = requests.post(cancer_server.url + "/score", json=body, timeout=10)
    assert response.status_code == 400
    assert "mean radius" in response.json()["error"]


@pytest.mark.parametrize("route", ["/v2/health/live", "/v2/health/ready", "/"])
def test_health_routes(iris_server, route):
    assert requests.get(iris_server.url + route, timeout=10).status_code == 200
