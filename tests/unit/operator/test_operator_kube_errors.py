"""What the operator's API client does with answers that are not what it asked for."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from answering_server import answering, connection_to
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


@pytest.fixture(scope="module")
def kube() -> Iterator[Kube]:
    # A stall longer than the client's read timeout below.
    with answering(ANSWERS, stall_s=3.0) as port:
        yield Kube(connection_to(port), timeout=(2.0, 0.5))


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
