"""The data-plane routes, in one table: the REST transport (rest.py) serves them from it and the
OpenAPI document (`openapi_paths`) describes them from it, so neither can leave one out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from modelserve_scoring import schemas

_PARAM = re.compile(r"\{(\w+)\}")
#: refusals every prediction route can answer, beyond those of its own protocol
_PREDICTION_ERRORS = {
    400: "Bad input, named in the message",
    404: "Unknown model or version",
    408: "The body did not arrive within REQUEST_TIMEOUT_MS",
    413: "Body over MAX_BODY_BYTES, or an answer over MAX_RESPONSE_BYTES",
    415: "A Content-Type other than JSON",
    429: "Over MAX_CONCURRENT_REQUESTS",
    500: "The model or scoring script failed (details in the log under the request id)",
    503: "Not ready: loading, draining, or every scoring-script worker stuck",
    504: "Not answered within REQUEST_TIMEOUT_MS",
}
_REQUEST_ID_HEADER = {
    "name": "x-request-id",
    "in": "header",
    "required": False,
    "description": "Your request id (1-128 printable ASCII characters), echoed back and used by "
    "POST /feedback; without one the server makes one.",
    "schema": {"type": "string"},
}
_PROBABILITIES_QUERY = {
    "name": "probabilities",
    "in": "query",
    "required": False,
    "description": "Answer with class probabilities too.",
    "schema": {"type": "boolean"},
}
_HEADER_LENGTH = {
    "name": "Inference-Header-Content-Length",
    "in": "header",
    "required": False,
    "description": "Binary tensor extension: length of the JSON part; binary tensors follow.",
    "schema": {"type": "integer", "minimum": 0},
}


@dataclass(frozen=True)
class Route:
    """One route: method and path template, the DataPlane entry serving it, and its shapes."""

    method: str
    path: str
    #: OpenAPI operationId
    name: str
    #: DataPlane method; `infer` takes the protocol below
    handler: str
    summary: str
    #: for prediction routes: the codec and the metrics' `route` label
    protocol: str | None = None
    body: type[BaseModel] | None = None
    #: status -> the model of its body
    responses: dict[int, type[BaseModel]] = field(default_factory=dict)
    parameters: tuple[dict[str, Any], ...] = ()

    @property
    def path_params(self) -> tuple[str, ...]:
        """Names of the path template's parameters, in order."""
        return tuple(_PARAM.findall(self.path))

    def pattern(self) -> re.Pattern[str]:
        """A regular expression matching the concrete paths of this template."""
        parts = _PARAM.split(self.path)
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
        )
        return re.compile(f"^{regex}$")


def _infer(path: str, name: str, summary: str, protocol: str, **shapes: Any) -> Route:
    return Route("POST", path, name, "infer", summary, protocol, **shapes)


_V2_INFER = {
    "body": schemas.InferenceRequest,
    "responses": {200: schemas.InferenceResponse},
    "parameters": (_REQUEST_ID_HEADER, _HEADER_LENGTH),
}
_MODEL_METADATA = {"responses": {200: schemas.ModelMetadata, 404: schemas.ErrorBody}}
_MODEL_READY = {
    "responses": {200: schemas.ModelReady, 404: schemas.ErrorBody, 503: schemas.ModelReady}
}

ROUTES: tuple[Route, ...] = (
    _infer(
        "/v2/models/{model_name}/infer",
        "v2_infer",
        "Open Inference Protocol v2 inference",
        "v2_infer",
        **_V2_INFER,
    ),
    _infer(
        "/v2/models/{model_name}/versions/{model_version}/infer",
        "v2_infer_version",
        "Open Inference Protocol v2 inference on one version",
        "v2_infer",
        **_V2_INFER,
    ),
    _infer(
        "/score",
        "score",
        "Managed-endpoint scoring (the body a custom scoring script's run() receives)",
        "score",
        body=schemas.ScoreRequest,
        responses={200: schemas.ScoreResponse},
        parameters=(_REQUEST_ID_HEADER, _PROBABILITIES_QUERY),
    ),
    _infer(
        "/v1/models/{model_name}:predict",
        "v1_predict",
        "KServe v1 prediction",
        "v1_predict",
        body=schemas.PredictRequest,
        responses={200: schemas.PredictResponse},
        parameters=(_REQUEST_ID_HEADER, _PROBABILITIES_QUERY),
    ),
    Route("GET", "/v2/health/live", "live", "live", "Liveness", responses={200: schemas.Status}),
    Route(
        "GET",
        "/v2/health/ready",
        "ready",
        "ready",
        "Readiness: loaded and warm, not draining",
        responses={200: schemas.Status, 503: schemas.ErrorBody},
    ),
    Route(
        "GET",
        "/v2",
        "server_metadata",
        "server_metadata",
        "v2 server metadata",
        responses={200: schemas.ServerMetadata},
    ),
    Route(
        "GET",
        "/v2/models/{model_name}",
        "model_metadata",
        "model_metadata",
        "v2 model metadata",
        **_MODEL_METADATA,
    ),
    Route(
        "GET",
        "/v2/models/{model_name}/versions/{model_version}",
        "model_version_metadata",
        "model_metadata",
        "v2 model metadata of one version",
        **_MODEL_METADATA,
    ),
    Route(
        "GET",
        "/v2/models/{model_name}/ready",
        "model_ready",
        "model_ready",
        "v2 model readiness",
        **_MODEL_READY,
    ),
    Route(
        "GET",
        "/v2/models/{model_name}/versions/{model_version}/ready",
        "model_version_ready",
        "model_ready",
        "v2 readiness of one version",
        **_MODEL_READY,
    ),
    Route(
        "GET",
        "/v1/models/{model_name}",
        "v1_model_status",
        "v1_model_status",
        "KServe v1 model status",
        responses={200: schemas.ModelReady, 404: schemas.ErrorBody},
    ),
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _operation(route: Route) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.path_params
    ]
    responses: dict[str, Any] = {
        str(status): {"description": model.__doc__ or "", "content": _content(model)}
        for status, model in route.responses.items()
    }
    if route.protocol is not None:
        for status, description in _PREDICTION_ERRORS.items():
            responses.setdefault(
                str(status), {"description": description, "content": _content(schemas.ErrorBody)}
            )
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": ["data plane"],
        "parameters": [*parameters, *route.parameters],
        "responses": responses,
    }
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": _content(route.body)}
    return operation


def openapi_paths(routes: tuple[Route, ...] = ROUTES) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI `paths` of the routes, and the component schemas they refer to."""
    models = {schemas.ErrorBody}
    for route in routes:
        models.update(route.responses.values())
        if route.body is not None:
            models.add(route.body)
    ordered = sorted(models, key=lambda m: m.__name__)
    _, definitions = models_json_schema(
        [(model, "validation") for model in ordered],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, Any] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return paths, definitions.get("$defs", {})
