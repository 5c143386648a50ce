"""The FastAPI app behind the REST transport: feedback, monitoring, the liveness root, and the
OpenAPI document and UI, which describe the data-plane routes of routes.py as well."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import ORJSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelserve_scoring.dataplane import DataPlane
from modelserve_scoring.errors import NotFound, PayloadTooLarge, ScoringError, error_document
from modelserve_scoring.routes import ROUTES, openapi_paths
from modelserve_scoring.service import SERVER_VERSION


def _error_response(status: int, message: str, close: bool = False) -> ORJSONResponse:
    headers = {"connection": "close"} if close else None
    return ORJSONResponse(error_document(message), status_code=status, headers=headers)


def build_api(dataplane: DataPlane) -> FastAPI:
    """The app; its lifespan loads the model in the background and stops the data plane."""
    service = dataplane.service

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(service.start(), name="load-model")
        yield
        task.cancel()
        await service.stop()
        dataplane.stop()

    app = FastAPI(
        title="modelserve scoring server",
        version=SERVER_VERSION,
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
        description=(
            "Open Inference Protocol v2, POST /score (managed-endpoint shape) and KServe v1, "
            "plus feedback and monitoring; see docs/scoring-server.md."
        ),
    )

    @app.exception_handler(ScoringError)
    async def scoring_error(request: Request, exc: ScoringError) -> ORJSONResponse:
        return _error_response(exc.status, exc.message, exc.close_connection)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> ORJSONResponse:
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return _error_response(exc.status_code, message)

    def openapi() -> dict[str, Any]:
        """FastAPI's document of its own routes, with the data-plane routes added."""
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            paths, definitions = openapi_paths(ROUTES)
            document["paths"] = {**paths, **document.get("paths", {})}
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(definitions)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/")
    async def root() -> dict:
        """Liveness in the managed-endpoint style."""
        return {"status": "alive", "ready": service.ready}

    @app.post("/feedback")
    async def feedback(request: Request) -> dict:
        """Ground truth for an earlier prediction, matched by its x-request-id."""
        if service.script is not None:
            raise NotFound(
                "this deployment is served by a custom scoring script: its predictions are not "
                "remembered, so feedback cannot be matched"
            )
        limit = service.settings.max_body_bytes
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
        return {"matched": service.monitoring.give_feedback(body)}

    @app.get("/monitoring")
    async def monitoring() -> dict:
        """The live window against the training baseline, and the rolling performance."""
        # histograms over the whole window: off the event loop, predictions keep flowing
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, service.monitoring.document)

    @app.get("/monitoring/requests")
    async def monitoring_requests() -> dict:
        """Prediction calls answered since start, and how many the server or model failed."""
        return service.metrics.request_counts()

    return app
