"""`Endpoint.invoke` sends a request again while the router says the deployment could not be
reached (a new pod's Service not routed yet), and only then."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from modelserve_client import endpoint as client_endpoint
from modelserve_client.endpoint import Endpoint, InvokeResult
from modelserve_client.errors import ModelserveError
from modelserve_operator.builders import router_config

UNREACHABLE = InvokeResult(
    502, b'{"error": "deployment green could not be reached; retry later"}', "green"
)
ANSWERED = InvokeResult(200, b"[1,0]", "green")


class FakeClock:
    """time.monotonic and time.sleep of the client module: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedEndpoint(Endpoint):
    """An endpoint whose router answers from a script; records every body it was sent."""

    def __init__(self, answers: list[InvokeResult]) -> None:
        self.name, self.namespace, self.connection = "fraud", "ml", None
        self.answers = answers
        self.sent: list[bytes] = []

    def get(self) -> dict:
        return {"metadata": {"name": self.name}, "spec": {"authMode": "none"}}

    def _check_deployment(self, obj: dict, deployment: str | None) -> None:
        return None

    def _key(self, obj: dict) -> str | None:
        return None

    def _router_pod(self, timeout: float) -> str:
        return "fraud-router-0"

    def _post(self, pod, route, body, headers, timeout) -> InvokeResult:
        self.sent.append(body)
        return self.answers[min(len(self.sent), len(self.answers)) - 1]


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(client_endpoint.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(client_endpoint.time, "sleep", fake.sleep)
    return fake


def test_an_unreachable_deployment_is_asked_again_until_it_answers(clock):
    endpoint = ScriptedEndpoint([UNREACHABLE, UNREACHABLE, ANSWERED])
    result = endpoint.invoke({"data": [[1, 2]]}, deployment="green")
    assert result == ANSWERED
    assert endpoint.sent == [json.dumps({"data": [[1, 2]]}).encode()] * 3
    assert clock.sleeps == [0.25, 0.5]


def test_it_gives_up_after_the_retry_window_with_the_routers_words(clock):
    endpoint = ScriptedEndpoint([UNREACHABLE])
    with pytest.raises(ModelserveError) as raised:
        endpoint.invoke({"data": [[1, 2]]}, deployment="green")
    assert "answered HTTP 502 from deployment green" in str(raised.value)
    assert "could not be reached; retry later" in str(raised.value)
    assert sum(clock.sleeps) <= client_endpoint.UNREACHABLE_RETRY_S
    assert max(clock.sleeps) == client_endpoint.UNREACHABLE_MAX_DELAY_S
    assert len(endpoint.sent) == len(clock.sleeps) + 1


@pytest.mark.parametrize(
    "answer",
    [
        InvokeResult(500, b'{"error": "prediction failed"}', "green"),
        InvokeResult(502, b'{"error": "upstream said bad gateway"}', "green"),
        InvokeResult(504, b'{"error": "deployment green did not answer within 60000 ms"}', "green"),
        InvokeResult(400, b'{"error": "expected 8 features"}', "green"),
    ],
    ids=["model-fault", "other-502", "timeout", "client-fault"],
)
def test_other_failures_are_not_sent_again(clock, answer):
    endpoint = ScriptedEndpoint([answer, ANSWERED])
    with pytest.raises(ModelserveError):
        endpoint.invoke({"data": [[1, 2]]})
    assert len(endpoint.sent) == 1 and clock.sleeps == []


def test_the_retried_answer_is_the_routers_own_words():
    template = Path(router_config.__file__).parent / "templates" / "nginx.conf.j2"
    bad_gateway = [line for line in template.read_text().splitlines() if "return 502" in line]
    assert len(bad_gateway) == 1
    assert bad_gateway[0].rstrip().endswith(f"{client_endpoint.UNREACHABLE_ANSWER}\"}}';")
