"""Runs the scoring server: uvicorn (uvloop + httptools) with connection guards, the v2 gRPC
server on the same event loop, the metrics port, and a drain with a deadline on SIGTERM."""

from __future__ import annotations

import logging
import signal
import socket
import time
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from modelserve_scoring.api import build_api
from modelserve_scoring.connections import guarded_protocol
from modelserve_scoring.dataplane import DataPlane
from modelserve_scoring.rest import RestTransport
from modelserve_scoring.service import ScoringService
from modelserve_scoring.settings import ScoringSettings

if TYPE_CHECKING:
    import grpc

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """On SIGTERM: readiness turns false, in-flight requests finish (until the drain deadline),
    then the server exits. The gRPC server starts after the HTTP one and stops before it: the
    model's batcher, stopped by the HTTP app's lifespan, is still there for its last calls."""

    def __init__(self, config: uvicorn.Config, dataplane: DataPlane, drain_s: float) -> None:
        super().__init__(config)
        self.dataplane = dataplane
        self.service = dataplane.service
        self.drain_s = drain_s
        self.drain_deadline = float("inf")
        self.grpc: grpc.aio.Server | None = None
        self.failed = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start uvicorn (which loads the model in the background), then the gRPC server."""
        await super().startup(sockets)
        settings = self.service.settings
        if self.should_exit or not settings.grpc_port:
            return
        # imported only when served: grpcio costs about 20 MB of RSS and 0.2 s of start-up
        from modelserve_scoring.v2grpc.service import build_grpc_server

        try:
            self.grpc = build_grpc_server(self.dataplane, settings.host, settings.grpc_port)
            await self.grpc.start()
        except RuntimeError as exc:  # grpc's words for a port it cannot bind
            log.error("cannot serve gRPC on %s:%d: %s", settings.host, settings.grpc_port, exc)
            self.grpc = None
            self.failed = self.should_exit = True
            return
        log.info("v2 gRPC on %s:%d", settings.host, settings.grpc_port)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """gRPC first, its calls given what is left of the drain, then uvicorn's shutdown."""
        if self.grpc is not None:
            await self.grpc.stop(self.config.timeout_graceful_shutdown or 1.0)
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """The first SIGTERM starts a drain; other or repeated signals stop as uvicorn does."""
        if sig == signal.SIGTERM and not self.service.draining:
            self.drain_deadline = time.monotonic() + self.drain_s
            self.service.begin_drain()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        """Every 100 ms (uvicorn's main loop): end the drain once nothing is in flight, or at
        its deadline."""
        if self.service.draining and not self.should_exit:
            remaining = self.drain_deadline - time.monotonic()
            inflight = self.dataplane.inflight
            if inflight == 0 or remaining <= 0:
                if inflight:
                    log.warning("drain deadline passed with %d request(s) in flight", inflight)
                # uvicorn's own shutdown then waits for open connections, within what is left
                self.config.timeout_graceful_shutdown = max(remaining, 1.0)
                self.should_exit = True
        return await super().on_tick(counter)


def build_app(dataplane: DataPlane) -> RestTransport:
    """The ASGI app: the data-plane routes in front of FastAPI."""
    return RestTransport(dataplane, build_api(dataplane))


def serve(settings: ScoringSettings) -> int:
    """Serve until drained or stopped; returns the process exit code."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    service = ScoringService(settings)
    dataplane = DataPlane(service)
    service.metrics.serve(settings.host, settings.metrics_port)
    config = uvicorn.Config(
        build_app(dataplane),
        host=settings.host,
        port=settings.http_port,
        loop="uvloop",
        # the protocol closes idle keep-alive connections itself (KEEP_ALIVE_TIMEOUT_S)
        http=guarded_protocol(
            settings.header_timeout_s, settings.max_connections, settings.keep_alive_timeout_s
        ),
        lifespan="on",
        # no WebSocket routes: an Upgrade request is plain HTTP, and no WebSocket library is
        # imported at start-up
        ws="none",
        access_log=False,
        log_level=settings.log_level.lower(),
        server_header=False,
        # nothing here reads the caller's address or scheme: X-Forwarded-* is not trusted, and
        # the middleware that would apply it is one layer less on every call
        proxy_headers=False,
    )
    drain_ms = settings.drain_timeout_ms or settings.request_timeout_ms + 2000
    server = DrainingServer(config, dataplane, drain_ms / 1000)

    def stop_after_failed_load() -> None:
        server.should_exit = True

    service.request_exit = stop_after_failed_load
    server.run()
    if service.load_failed or server.failed:
        return 1
    return 0
