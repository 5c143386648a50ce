"""The rendered router config, run by a real nginx in front of real scoring servers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from dataplane_harness import (
    PRIMARY_KEY,
    SCORE_BODY,
    SECONDARY_KEY,
    backends,
    free_port,
    wait_until,
    with_weights,
)
from modelserve_operator.builders.router_config import Backend
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

pytestmark = pytest.mark.nginx
PIN = "x-modelserve-deployment"


def score(session: requests.Session, url: str, headers: dict | None = None) -> requests.Response:
    return session.post(f"{url}/score", json=SCORE_BODY, headers=headers or {}, timeout=30)


def access_log(router) -> list[dict]:
    """The router's JSON access log lines written so far."""
    return [json.loads(line) for line in router.log_text().splitlines() if line.startswith("{")]


def score_many(url: str, count: int, workers: int = 8) -> list[tuple[int, str]]:
    """POST /score `count` times from `workers` keep-alive clients; (status, served deployment)."""
    local = threading.local()

    def one(_: int) -> tuple[int, str]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = score(local.session, url)
        return response.status_code, response.headers.get(PIN, "")

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(count)))


def test_split_90_10_is_within_3_points_over_2000_requests(scoring_servers, start_router):
    before = {name: s.scored_requests() for name, s in scoring_servers.items()}
    router = start_router(backends(scoring_servers, blue=90, green=10))

    results = score_many(router.url, 2000)

    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 2000}, statuses
    served = Counter(name for _, name in results)
    assert set(served) == {"blue", "green"}, served
    assert abs(served["green"] / 2000 * 100 - 10) <= 3, served
    # The header tells the truth: each deployment's own counter saw exactly its requests.
    after = {name: s.scored_requests() for name, s in scoring_servers.items()}
    assert after["blue"] - before["blue"] == served["blue"]
    assert after["green"] - before["green"] == served["green"]
    assert after["shadow"] == before["shadow"]

    # The access log is JSON on stdout and names the deployment chosen (nginx buffers it
    # for up to a second).
    def logged_deployments() -> Counter:
        logged = access_log(router)
        return Counter(entry["deployment"] for entry in logged if entry["uri"] == "/score")

    wait_until(lambda: sum(logged_deployments().values()) >= 2000, "2000 access log lines")
    assert logged_deployments() == served


def test_pin_header_reaches_a_deployment_at_zero_percent(scoring_servers, start_router):
    router = start_router(backends(scoring_servers, blue=100, green=0))
    session = requests.Session()

    for header in (PIN, "azureml-model-deployment"):
        response = score(session, router.url, {header: "green"})
        assert response.status_code == 200, response.text
        assert response.headers[PIN] == "green"
        assert len(response.json()) == len(SCORE_BODY["data"])
    assert score(session, router.url).headers[PIN] == "blue"


def test_a_callers_request_id_reaches_the_deployment_so_its_ground_truth_can_follow(
    scoring_servers, start_router
):
    router = start_router(backends(scoring_servers, blue=100))
    session = requests.Session()

    chosen = score(session, router.url, {"x-request-id": "order-17"})
    assert chosen.status_code == 200, chosen.text
    assert chosen.headers["x-request-id"] == "order-17"
    # The deployment remembered the prediction under the caller's id.
    labels = {"requestId": "order-17", "labels": [0] * len(SCORE_BODY["data"])}
    feedback = session.post(f"{router.url}/feedback", json=labels, timeout=30)
    assert feedback.status_code == 200, feedback.text
    assert feedback.json() == {"matched": len(SCORE_BODY["data"])}
    # Without one, each request gets an id of its own, and the access log has it.
    first, second = (score(session, router.url).headers["x-request-id"] for _ in range(2))
    assert first != second and "order-17" not in (first, second)
    wait_until(
        lambda: {"order-17", first, second} <= {e["request_id"] for e in access_log(router)},
        "the three request ids in the access log",
    )


def test_unknown_pin_gives_404_naming_header_and_deployments(scoring_servers, start_router):
    router = start_router(backends(scoring_servers, blue=100, green=0))

    response = score(requests.Session(), router.url, {PIN: "purple"})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert PIN in message
    assert "blue, green" in message


def test_mirror_reaches_the_mirror_but_clients_only_see_live_answers(scoring_servers, start_router):
    shadow = scoring_servers["shadow"]
    before = shadow.scored_requests()
    router = start_router(backends(scoring_servers, blue=100, shadow=0), mirror=("shadow", 20))

    results = score_many(router.url, 1000)

    assert Counter(results) == {(200, "blue"): 1000}
    # The mirror is fire-and-forget; wait for its copies to land, then check the share.
    wait_until(
        lambda: 140 <= shadow.scored_requests() - before <= 260,
        "about 20 % of 1000 requests (140..260) to reach the shadow deployment",
    )


@pytest.mark.parametrize("mirror_state", ["refusing", "hanging"])
def test_a_broken_mirror_never_reaches_or_holds_up_the_client(
    scoring_servers, start_router, mirror_state
):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        if mirror_state == "hanging":
            listener.listen(1)  # connects complete in the kernel; nothing ever answers
        dead = Backend("shadow", f"127.0.0.1:{listener.getsockname()[1]}", 0)
        router = start_router(
            [Backend("blue", scoring_servers["blue"].address, 100), dead],
            mirror=("shadow", 50),
            request_timeout_ms=60000,
        )
        session = requests.Session()

        # One keep-alive connection, one request after another: were the next request
        # held until the mirror copy gave up (60 s), the 10 s client timeout would fire.
        answers = [
            session.post(f"{router.url}/score", json=SCORE_BODY, timeout=10) for _ in range(20)
        ]

    assert Counter((a.status_code, a.headers[PIN]) for a in answers) == {(200, "blue"): 20}


def test_key_auth_accepts_primary_and_secondary_and_refuses_others(scoring_servers, start_router):
    router = start_router(backends(scoring_servers, blue=100), auth_mode="key")
    session = requests.Session()

    for headers in (
        {},
        {"Authorization": "Bearer not-a-valid-key-at-all"},
        {"Authorization": PRIMARY_KEY},
    ):
        refused = score(session, router.url, headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in refused.json()["error"]
        assert PIN not in refused.headers  # a refused request was served by no deployment
    for key in (PRIMARY_KEY, SECONDARY_KEY):
        accepted = score(session, router.url, {"Authorization": f"Bearer {key}"})
        assert accepted.status_code == 200, accepted.text
        assert "WWW-Authenticate" not in accepted.headers
    assert score(session, router.url, {"Authorization": f"bearer {SECONDARY_KEY}"}).ok
    assert session.get(f"{router.url}/healthz", timeout=5).status_code == 200


def test_all_zero_weights_give_503_unless_pinned(scoring_servers, start_router):
    router = start_router(backends(scoring_servers, blue=0, green=0))
    session = requests.Session()

    response = score(session, router.url)

    assert response.status_code == 503
    assert "no deployment" in response.json()["error"]
    assert "takes traffic" in response.json()["error"]
    assert score(session, router.url, {PIN: "green"}).status_code == 200


def test_weight_change_by_reload_under_load_fails_no_request(scoring_servers, start_router):
    router = start_router(backends(scoring_servers, blue=100, green=0))
    stop = threading.Event()
    lock = threading.Lock()
    served: list[str] = []
    failures: list[str] = []

    def client() -> None:
        session = requests.Session()
        # A reload closes idle keep-alive connections; a request racing that close is
        # never processed, and HTTP lets a client retry it on a new connection (as
        # browsers and most clients do). One such retry is allowed; nothing else is.
        retry_closed = Retry(total=1, connect=1, read=1, status=0, allowed_methods=None)
        session.mount("http://", HTTPAdapter(max_retries=retry_closed))
        while not stop.is_set():
            try:
                response = score(session, router.url)
            except requests.RequestException as error:
                outcome = f"error: {error!r}"
            else:
                outcome = (
                    response.headers.get(PIN, "") if response.ok else f"{response.status_code}"
                )
            with lock:
                if outcome in ("blue", "green"):
                    served.append(outcome)
                else:
                    failures.append(outcome)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(served) >= 300, "300 answers before the change")
        router.reload(with_weights(router.cfg, {"blue": 0, "green": 100}))
        switched_at = len(served)
        wait_until(
            lambda: len(served) >= switched_at + 300 and set(served[-200:]) == {"green"},
            "the last 200 answers to come from green after the reload",
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    assert failures == []
    assert served[0] == "blue"
    assert served[-1] == "green"


def test_a_busy_keep_alive_connection_is_closed_cleanly_after_its_maximum_age(
    scoring_servers, start_router
):
    # A steady client must not stay pinned to one router pod forever: after
    # connection_max_age_s nginx answers with "Connection: close" (never a reset), and the
    # client's next call opens a new connection, which the Service may send elsewhere.
    router = start_router(backends(scoring_servers, blue=100))
    session = requests.Session()
    answers: list[requests.Response] = []
    deadline = time.monotonic() + 4 * router.cfg.connection_max_age_s + 5
    # A failed call raises here: nothing in this loop forgives one.
    while time.monotonic() < deadline:
        answers.append(score(session, router.url))
        if answers[-1].headers.get("Connection", "").lower() == "close":
            break
    assert answers[-1].headers.get("Connection", "").lower() == "close", "never closed"
    after = score(session, router.url)

    assert [a.status_code for a in answers] == [200] * len(answers)
    assert len(answers) > 1, "the first call on a fresh connection must keep it open"
    assert after.status_code == 200
    assert after.headers.get("Connection", "keep-alive").lower() != "close"


def test_errors_of_the_router_itself_are_json(start_router):
    down = Backend("green", f"127.0.0.1:{free_port()}", 100)
    router = start_router([down], max_body_mb=1)
    session = requests.Session()

    unreachable = score(session, router.url)
    too_large = session.post(f"{router.url}/score", data=b"[" * (2 * 1024 * 1024), timeout=30)

    assert unreachable.status_code == 502
    assert unreachable.json() == {"error": "deployment green could not be reached; retry later"}
    assert unreachable.headers[PIN] == "green"
    assert too_large.status_code == 413
    assert "larger than 1 MB" in too_large.json()["error"]
