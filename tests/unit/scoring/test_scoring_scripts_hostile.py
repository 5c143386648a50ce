"""Scoring scripts that misbehave (issue 16, items 8 to 11), against a real server: an exception's
text stays in the log, SystemExit is an ordinary 500, timed-out calls cannot starve the server
unnoticed, and an answer has a size limit."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest
import requests
from scoring_helpers import sha256_of, wait_until

SCORE_PY = """
import json
import os
import sys
import time
from pathlib import Path

model_dir = None


def init():
    global model_dir
    model_dir = Path(os.environ["MODELSERVE_MODEL_DIR"])


def run(raw_data):
    body = json.loads(raw_data)
    action = body.get("do")
    if action == "raise":
        raise ValueError("boom: db password is hunter2")
    if action == "exit":
        sys.exit(3)
    if action == "interrupt":
        raise KeyboardInterrupt
    if action == "sleep":
        gate = model_dir / ("release-" + body["name"])
        (model_dir / ("started-" + body["name"])).touch()
        while not gate.exists():
            time.sleep(0.01)
        return {"slept": body["name"]}
    if action == "big":
        return list(range(body["n"]))
    if action == "not-json":
        return {1, 2}
    return {"ok": True}
"""


@pytest.fixture
def script_dir(tmp_path) -> Path:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.joblib").write_bytes(b"not a model: the script loads nothing")
    (tmp_path / "score.py").write_text(SCORE_PY)
    return model_dir


def _start(start_server, model_dir: Path, **settings):
    return start_server(
        model_dir=model_dir,
        scoring_script=model_dir.parent / "score.py",
        artifact_sha256=sha256_of(model_dir / "model.joblib"),
        **settings,
    )


def _score(server, body: dict, timeout: float = 30) -> requests.Response:
    return requests.post(server.url + "/score", json=body, timeout=timeout)


def _counts(server) -> dict:
    """Calls answered and server errors (GET /monitoring/requests, without its histogram)."""
    counts = requests.get(server.url + "/monitoring/requests", timeout=10).json()
    return {key: counts[key] for key in ("answered", "serverErrors")}


def _metric(server, name: str) -> float:
    total = 0.0
    for line in requests.get(server.metrics_url, timeout=10).text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_an_exception_is_logged_with_a_request_id_and_not_returned(start_server, script_dir):
    server = _start(start_server, script_dir)
    response = _score(server, {"do": "raise"})
    assert response.status_code == 500
    body = response.json()
    assert "hunter2" not in response.text and "boom" not in response.text
    request_id = body["requestId"]
    assert request_id == response.headers["x-request-id"]
    assert request_id in body["error"] and "server log" in body["error"]
    log = server.log()
    assert request_id in log and "ValueError: boom: db password is hunter2" in log
    assert _counts(server) == {"answered": 1, "serverErrors": 1}


def test_exposing_errors_is_an_opt_in_for_development(start_server, script_dir):
    server = _start(start_server, script_dir, expose_errors=True)
    response = _score(server, {"do": "raise"})
    assert response.status_code == 500
    assert "ValueError: boom: db password is hunter2" in response.json()["error"]


@pytest.mark.parametrize("action", ["exit", "interrupt"])
def test_system_exit_from_run_is_an_ordinary_500_and_the_server_still_drains(
    start_server, script_dir, action
):
    server = _start(start_server, script_dir)
    response = _score(server, {"do": action})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert "requestId" in response.json()
    assert _score(server, {}).json() == {"ok": True}
    assert _metric(server, "modelserve_inflight_requests{") == 0
    assert _metric(server, 'modelserve_requests_total{deployment="",model="model",'
                   'protocol="rest",route="score",status="500"') == 1  # fmt: skip
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0


def test_timed_out_calls_are_reported_and_readiness_turns_false(start_server, script_dir):
    server = _start(start_server, script_dir, script_workers=2, request_timeout_ms=500)
    try:
        for name in ("a", "b"):
            response = _score(server, {"do": "sleep", "name": name})
            assert response.status_code == 504
        # both workers hold calls that timed out: not ready, and a new call is refused at once
        wait_until(lambda: not server.is_ready(), 30, "readiness to turn false")
        ready = requests.get(server.url + "/v2/health/ready", timeout=10)
        assert "stuck" in ready.json()["error"]
        refused = _score(server, {})
        assert refused.status_code == 503 and "stuck" in refused.json()["error"]
        assert _metric(server, 'modelserve_script_workers{deployment="",model="model",'
                       'state="stuck"') == 2  # fmt: skip
        (script_dir / "release-a").touch()
        wait_until(server.is_ready, 30, "readiness once a worker is free")
        assert _score(server, {}).json() == {"ok": True}
    finally:
        for name in ("a", "b"):
            (script_dir / f"release-{name}").touch()


def test_busy_workers_refuse_rather_than_queue(start_server, script_dir):
    server = _start(start_server, script_dir, script_workers=1, request_timeout_ms=30_000)
    held: list[requests.Response] = []
    thread = threading.Thread(
        target=lambda: held.append(_score(server, {"do": "sleep", "name": "held"}))
    )
    thread.start()
    try:
        wait_until((script_dir / "started-held").exists, 30, "run() to start")
        refused = _score(server, {})
        assert refused.status_code == 429 and "busy" in refused.json()["error"]
        assert server.is_ready(), "a busy worker is not a stuck one"
    finally:
        (script_dir / "release-held").touch()
        thread.join(timeout=60)
    assert held[0].json() == {"slept": "held"}


def test_an_answer_over_the_size_limit_is_refused(start_server, script_dir):
    server = _start(start_server, script_dir, max_response_bytes=100_000)
    response = _score(server, {"do": "big", "n": 100_000})
    assert response.status_code == 500
    assert "100000-byte limit" in response.json()["error"]
    assert "MODELSERVE_MAX_RESPONSE_BYTES" in response.json()["error"]
    assert _score(server, {"do": "big", "n": 10}).json() == list(range(10))
    not_json = _score(server, {"do": "not-json"})
    assert not_json.status_code == 500 and "not JSON" in not_json.json()["error"]


def test_a_models_answer_over_the_size_limit_is_413(start_server, iris_classifier):
    server = start_server(
        model_dir=iris_classifier.directory,
        artifact_sha256=iris_classifier.sha256,
        max_response_bytes=2048,
    )
    rows = iris_classifier.X[:150].tolist()
    response = requests.post(
        server.url + "/score?probabilities=true", json={"data": rows}, timeout=10
    )
    assert response.status_code == 413
    assert "send fewer rows" in response.json()["error"]
    assert requests.post(server.url + "/score", json={"data": rows[:2]}, timeout=10).ok
    assert _counts(server)["serverErrors"] == 0
