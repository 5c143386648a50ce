"""The MLflow REST client against servers that are not MLflow: refused by name, bounded."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
from modelserve_api import mlflow_registry as registry
from ports import LOOPBACK


@pytest.fixture
def web_server(tmp_path):
    """A static web server on loopback whose every MLflow path answers an HTML page."""
    page = tmp_path / "api" / "2.0" / "mlflow" / "model-versions" / "get"
    page.parent.mkdir(parents=True)
    page.write_text("<html>a wiki, not MLflow</html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_is_not_mlflow_is_named(web_server):
    with pytest.raises(registry.MLflowError, match="did not answer JSON") as refused:
        registry.Registry(web_server).resolve("models:/churn/1")
    assert refused.value.reason == registry.FAILED


def test_a_direct_store_location_is_refused_by_name():
    with pytest.raises(registry.MLflowError, match="only mlflow-artifacts:/") as refused:
        registry.artifact_path("s3://bucket/1/models/m-1/artifacts")
    assert refused.value.reason == registry.UNSUPPORTED_SOURCE


@pytest.mark.parametrize(
    ("credentials", "header"),
    [
        ({"MLFLOW_TRACKING_TOKEN": "t0k"}, "Bearer t0k"),
        ({"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "pw"}, "Basic YW5uOnB3"),
        ({"MLFLOW_TRACKING_USERNAME": "ann"}, None),
    ],
)
def test_credentials_become_the_authorization_mlflow_clients_send(credentials, header):
    assert registry.auth_headers(credentials).get("Authorization") == header
