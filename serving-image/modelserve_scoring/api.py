"""The FastAPI app behind the fast routes: server and model metadata, readiness per model, docs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import ORJSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelserve_scoring.errors import NotFound, PayloadTooLarge, ScoringError
from modelserve_scoring.service import SERVER_VERSION, ScoringService


def build_api(service: ScoringService) -> FastAPI:
    """Metadata and readiness routes; its lifespan loads the model in the background."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(service.start(), name="load-model")
        yield
        task.cancel()
        await service.stop()

    app = FastAPI(
        title="modelserve scoring server",
        version=SERVER_VERSION,
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
        description=(
            "Open Inference Protocol v2, POST /score (managed-endpoint shape) and KServe v1. "
            "Inference routes are served by a lean ASGI layer in front of this app; "
            "see docs/scoring-server.md."
        ),
    )

    @app.exception_handler(ScoringError)
    async def scoring_error(request: Request, exc: ScoringError) -> ORJSONResponse:
        return ORJSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> ORJSONResponse:
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return ORJSONResponse({"error": message}, status_code=exc.status_code)

    @app.get("/")
    async def root() -> dict:
        """Liveness in the managed-endpoint style."""
        return {"status": "alive", "ready": service.ready}

    @app.get("/v2")
    async def server_metadata() -> dict:
        """v2 server metadata."""
        return {
            "name": "modelserve",
            "version": SERVER_VERSION,
            "extensions": ["binary_tensor_data"],
        }

    @app.get("/v2/models/{model_name}")
    async def model_metadata(model_name: str) -> dict:
        """v2 model metadata."""
        service.check_model(model_name, None)
        return service.model_metadata()

    @app.get("/v2/models/{model_name}/versions/{model_version}")
    async def model_version_metadata(model_name: str, model_version: str) -> dict:
        """v2 model metadata of one version."""
        service.check_model(model_name, model_version)
        return service.model_metadata()

    @app.get("/v2/models/{model_name}/ready")
    async def model_ready(model_name: str) -> ORJSONResponse:
        """200 when the model is ready, 503 before."""
        service.check_model(model_name, None)
        return _readiness(service)

    @app.get("/v2/models/{model_name}/versions/{model_version}/ready")
    async def model_version_ready(model_name: str, model_version: str) -> ORJSONResponse:
        """200 when this version is ready, 503 before."""
        service.check_model(model_name, model_version)
        return _readiness(service)

    @app.post("/feedback")
    async def feedback(request: Request) -> dict:
        """Ground truth for an earlier prediction, matched by its x-request-id."""
        if service.script is not None:
            raise NotFound(
                "this deployment is served by a custom scoring script: its predictions are not "
                "remembered, so feedback cannot be matched"
            )
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > service.settings.max_body_bytes:
                raise PayloadTooLarge(
                    f"request body is over the {service.settings.max_body_bytes}-byte limit"
                )
        return {"matched": service.monitoring.give_feedback(body)}

    @app.get("/monitoring")
    async def monitoring() -> dict:
        """The live window against the training baseline, and the rolling performance."""
        # histograms over the whole window: off the event loop, predictions keep flowing
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, service.monitoring.document)

    @app.get("/monitoring/requests")
    async def monitoring_requests() -> dict:
        """Prediction calls answered since start, and how many of them failed with a 5xx."""
        return service.metrics.request_counts()

    @app.get("/v1/models/{model_name}")
    async def v1_model(model_name: str) -> dict:
        """KServe v1 model status."""
        service.check_model(model_name, None)
        return {"name": model_name, "ready": service.ready}

    return app


def _readiness(service: ScoringService) -> ORJSONResponse:
    body = {"name": service.settings.model_name, "ready": service.ready}
    return ORJSONResponse(body, status_code=200 if service.ready else 503)
