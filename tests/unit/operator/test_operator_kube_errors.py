"""What the operator's API client does with answers that are not what it asked for."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes import client
from modelserve_api.kube import Connection
from modelserve_operator.kube import Kube, KubeError

ANSWERS: dict[str, tuple[int, str, bytes]] = {
    "/api/v1/namespaces/ns/configmaps/html-502": (
        502,
        "text/html",
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    ),
    "/api/v1/namespaces/ns/configmaps/invalid": (
        422,
        "application/json",
        json.dumps(
            {"kind": "Status", "reason": "Invalid", "message": "spec.replicas: must be >= 0"}
        ).encode(),
    ),
    "/api/v1/namespaces/ns/configmaps/not-json": (200, "text/plain", b"hello"),
    "/api/v1/namespaces/ns/configmaps/gone": (
        404,
        "application/json",
        json.dumps({"kind": "Status", "reason": "NotFound", "message": "not found"}).encode(),
    ),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.endswith("/hangs"):
            time.sleep(3)  # longer than the client's read timeout below
        status, content_type, body = ANSWERS.get(self.path, (200, "application/json", b"{}"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def kube() -> Iterator[Kube]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
    configuration.retries = False
    yield Kube(Connection(client.ApiClient(configuration)), timeout=(2.0, 0.5))
    server.shutdown()


def test_an_html_502_is_an_api_error_with_the_page_text(kube: Kube) -> None:
    with pytest.raises(KubeError) as raised:
        kube.get("v1", "ConfigMap", "ns", "html-502")
    assert raised.value.status == 502
    assert "502 Bad Gateway" in raised.value.message


def test_a_refusal_carries_the_servers_reason_and_message(kube: Kube) -> None:
    with pytest.raises(KubeError) as raised:
        kube.get("v1", "ConfigMap", "ns", "invalid")
    assert (raised.value.status, raised.value.reason) == (422, "Invalid")
    assert raised.value.message == "spec.replicas: must be >= 0"


def test_a_success_that_is_not_json_is_an_api_error(kube: Kube) -> None:
    with pytest.raises(KubeError) as raised:
        kube.get("v1", "ConfigMap", "ns", "not-json")
    assert raised.value.reason == "NotJSON"


def test_not_found_is_none(kube: Kube) -> None:
    assert kube.get("v1", "ConfigMap", "ns", "gone") is None


def test_a_server_that_stops_answering_times_out(kube: Kube) -> None:
    with pytest.raises(KubeError) as raised:
        kube.get("v1", "ConfigMap", "ns", "hangs")
    assert raised.value.status == 0
    assert "Timeout" in raised.value.reason
