"""The data-plane routes come from one table (routes.py): served by the REST transport and
described by the OpenAPI document a real server publishes."""

from __future__ import annotations

import requests
from modelserve_scoring.routes import ROUTES


def test_the_openapi_document_describes_every_data_plane_route(iris_server):
    document = requests.get(iris_server.url + "/openapi.json", timeout=10).json()
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert operation["operationId"] == route.name
        documented = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert documented == set(route.path_params)
        assert "200" in operation["responses"]
    schemas = document["components"]["schemas"]
    for path, request, answer in (
        ("/v2/models/{model_name}/infer", "InferenceRequest", "InferenceResponse"),
        ("/score", "ScoreRequest", "ScoreResponse"),
        ("/v1/models/{model_name}:predict", "PredictRequest", "PredictResponse"),
    ):
        operation = document["paths"][path]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{request}"}
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": f"#/components/schemas/{answer}"}
        assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }
        assert request in schemas and answer in schemas
    assert set(schemas["InferenceRequest"]["properties"]) >= {"id", "inputs", "outputs"}
    # FastAPI's own routes are in the same document
    assert "/feedback" in document["paths"] and "/monitoring/requests" in document["paths"]


def test_a_known_path_with_another_method_is_405_naming_the_allowed_ones(iris_server):
    response = requests.get(iris_server.url + "/score", timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "POST" in response.json()["error"]
    put = requests.put(iris_server.url + "/v2/models/iris/infer", json={}, timeout=10)
    assert put.status_code == 405 and put.headers["allow"] == "POST"


def test_an_unknown_path_is_a_json_404(iris_server):
    response = requests.post(iris_server.url + "/v2/models/iris/explain", json={}, timeout=10)
    assert response.status_code == 404
    assert "/v2/models/iris/explain" in response.json()["error"]


def test_every_prediction_answer_carries_a_request_id_errors_included(iris_server):
    row = {"data": [[5.1, 3.5, 1.4, 0.2]]}
    ok = requests.post(iris_server.url + "/score", json=row, timeout=10)
    refused = requests.post(iris_server.url + "/score", data=b"{", timeout=10)
    assert len(ok.headers["x-request-id"]) == 32
    assert refused.json()["requestId"] == refused.headers["x-request-id"]
    mine = requests.post(
        iris_server.url + "/score", data=b"{", headers={"x-request-id": "abc-1"}, timeout=10
    )
    assert mine.headers["x-request-id"] == "abc-1" and mine.json()["requestId"] == "abc-1"
