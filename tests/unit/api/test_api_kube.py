"""The shared Kubernetes client's answers: a typed error per refusal, JSON or nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from answering_server import answering, connection_to
from modelserve_api.kube import (
    Conflict,
    Connection,
    Forbidden,
    Invalid,
    KubeError,
    NotFound,
    ServerError,
    Unauthorized,
    Unreachable,
)
from ports import free_port


def status_body(reason: str, message: str, name: str = "") -> bytes:
    details = {"name": name} if name else {}
    return json.dumps(
        {"kind": "Status", "reason": reason, "message": message, "details": details}
    ).encode()


ANSWERS: dict[str, tuple[int, str, bytes]] = {
    "/unauthorized": (401, "application/json", status_body("Unauthorized", "Unauthorized")),
    "/forbidden": (403, "application/json", status_body("Forbidden", "pods is forbidden")),
    "/object-gone": (404, "application/json", status_body("NotFound", "no m", name="m")),
    "/no-such-resource": (404, "text/plain", b"404 page not found"),
    "/exists": (409, "application/json", status_body("AlreadyExists", "m exists", name="m")),
    "/invalid": (422, "application/json", status_body("Invalid", "spec.version: Required")),
    "/bad-gateway": (502, "text/html", b"<html><h1>502 Bad Gateway</h1></html>"),
    "/not-json": (200, "text/plain", b"hello"),
    "/empty": (200, "application/json", b""),
    "/object": (200, "application/json", b'{"kind": "ConfigMap"}'),
}


@pytest.fixture(scope="module")
def connection() -> Iterator[Connection]:
    with answering(ANSWERS) as port:
        yield connection_to(port)


@pytest.mark.parametrize(
    ("path", "error_type", "reason"),
    [
        ("/unauthorized", Unauthorized, "Unauthorized"),
        ("/forbidden", Forbidden, "Forbidden"),
        ("/object-gone", NotFound, "NotFound"),
        ("/exists", Conflict, "AlreadyExists"),
        ("/invalid", Invalid, "Invalid"),
    ],
)
def test_each_refusal_is_its_own_error_with_the_servers_reason(
    connection: Connection, path: str, error_type: type[KubeError], reason: str
) -> None:
    with pytest.raises(error_type) as raised:
        connection.call("GET", path)
    assert raised.value.reason == reason
    assert raised.value.message == json.loads(ANSWERS[path][2])["message"]


def test_a_404_names_the_object_only_when_the_server_did(connection: Connection) -> None:
    with pytest.raises(NotFound) as gone:
        connection.call("GET", "/object-gone")
    assert gone.value.name == "m"
    # No object named: the server does not serve the resource (a CRD not installed).
    with pytest.raises(NotFound) as unknown:
        connection.call("GET", "/no-such-resource")
    assert (unknown.value.name, unknown.value.message) == ("", "404 page not found")


def test_an_html_error_page_is_a_server_error_quoting_the_page(connection: Connection) -> None:
    with pytest.raises(ServerError) as raised:
        connection.call("GET", "/bad-gateway")
    assert raised.value.status == 502
    assert "502 Bad Gateway" in raised.value.message


def test_a_success_must_be_json_or_empty(connection: Connection) -> None:
    assert connection.call("GET", "/object") == {"kind": "ConfigMap"}
    assert connection.call("GET", "/empty") is None
    with pytest.raises(ServerError) as raised:
        connection.call("GET", "/not-json")
    assert raised.value.reason == "NotJSON"


def test_a_port_nobody_listens_on_is_unreachable_not_a_crash() -> None:
    with pytest.raises(Unreachable) as raised:
        connection_to(free_port()).call("GET", "/object")
    assert raised.value.status == 0
    assert "/object" in raised.value.message
