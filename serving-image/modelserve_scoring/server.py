"""Runs the scoring server: uvicorn (uvloop + httptools), metrics port, and drain on SIGTERM."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import uvicorn

from modelserve_scoring.api import build_api
from modelserve_scoring.fast_routes import FastRoutes
from modelserve_scoring.service import ScoringService
from modelserve_scoring.settings import ScoringSettings

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """On SIGTERM: readiness turns false, in-flight requests finish, then the server exits."""

    def __init__(self, config: uvicorn.Config, service: ScoringService) -> None:
        super().__init__(config)
        self.service = service

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """The first SIGTERM starts a drain; other or repeated signals stop as uvicorn does."""
        if sig == signal.SIGTERM and not self.service.draining:
            self.service.begin_drain()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        """Every 100 ms (uvicorn's main loop): end the drain once nothing is in flight."""
        if self.service.draining and self.service.inflight == 0:
            self.should_exit = True
        return await super().on_tick(counter)


def build_app(service: ScoringService) -> FastRoutes:
    """The ASGI app: fast routes in front of FastAPI."""
    return FastRoutes(service, build_api(service))


def serve(settings: ScoringSettings) -> int:
    """Serve until drained or stopped; returns the process exit code."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    service = ScoringService(settings)
    service.metrics.serve(settings.host, settings.metrics_port)
    config = uvicorn.Config(
        build_app(service),
        host=settings.host,
        port=settings.http_port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=settings.log_level.lower(),
        server_header=False,
    )
    server = DrainingServer(config, service)

    def stop_after_failed_load() -> None:
        server.should_exit = True

    service.request_exit = stop_after_failed_load
    server.run()
    if service.load_failed:
        return 1
    return 0
