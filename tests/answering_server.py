"""A loopback HTTP server with a fixed answer per path: the odd answers an API server can give."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kubernetes import client
from modelserve_api.kube import Connection

#: status, Content-Type, body
Answer = tuple[int, str, bytes]
EMPTY_OBJECT: Answer = (200, "application/json", b"{}")


@contextmanager
def answering(answers: dict[str, Answer], stall_s: float = 0.0) -> Iterator[int]:
    """Serve `answers` on a free loopback port (yielded); paths ending in /hangs stall first."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.endswith("/hangs"):
                time.sleep(stall_s)
            status, content_type, body = answers.get(self.path, EMPTY_OBJECT)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def connection_to(port: int, timeout: tuple[float, float] = (2.0, 2.0)) -> Connection:
    """The shared client, pointed at a loopback port without retries."""
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    configuration.retries = False
    return Connection(client.ApiClient(configuration), timeout=timeout)
