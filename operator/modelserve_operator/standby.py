"""The liveness endpoint of a standby replica (Kopf serves it once the replica leads)."""

from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A standby whose election loop made no attempt for this long is wedged: fail the probe.
STALE_AFTER_S = 60.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (socket.getfqdn), which stalls for
        # seconds where the resolver does not answer; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


class StandbyHealth:
    """GET /healthz: 200 while the election loop keeps trying, so a standby is not restarted."""

    def __init__(
        self,
        address: str,
        port: int,
        last_attempt: Callable[[], float],
        holder: Callable[[], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/healthz":
                    self.send_error(404)
                    return
                alive = clock() - last_attempt() < STALE_AFTER_S
                body = json.dumps({"role": "standby", "leader": holder(), "alive": alive})
                self.send_response(200 if alive else 500)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *_: object) -> None:  # probes every few seconds: no log
                pass

        self._server = _Server((address, port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="modelserve-standby-health", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Free the port: the leader's Kopf binds the same one."""
        self._server.shutdown()
        self._server.server_close()
