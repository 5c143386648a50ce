"""Scoring scripts, admission limits (429/504), readiness, SIGTERM drain and digest refusal, each
against a real server process. A score.py that waits for a gate file makes the timing explicit."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import joblib
import pytest
import requests
from scoring_helpers import RunsCodeWhenUnpickled, sha256_of, wait_until

SCORE_PY = """
import json
import os
import time
from pathlib import Path

import joblib

model = None


def wait_for(path, limit_s=60):
    end = time.monotonic() + limit_s
    while not path.exists() and time.monotonic() < end:
        time.sleep(0.01)


def init():
    global model
    model_dir = Path(os.environ["AZUREML_MODEL_DIR"])
    if (model_dir / "hold-init").exists():
        wait_for(model_dir / "release-init")
    model = joblib.load(model_dir / "model.joblib")


def run(raw_data):
    body = json.loads(raw_data)
    model_dir = Path(os.environ["MODELSERVE_MODEL_DIR"])
    if "hold" in body:
        (model_dir / ("started-" + body["hold"])).touch()
        wait_for(model_dir / ("release-" + body["hold"]))
    return {
        "predictions": model.predict(body["data"]).tolist(),
        "azureml_model_dir": os.environ["AZUREML_MODEL_DIR"],
    }
"""

ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def script_model(tmp_path, iris_classifier) -> Path:
    """A model directory with the iris model, served through a score.py."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.joblib").write_bytes(iris_classifier.artifact.read_bytes())
    (tmp_path / "score.py").write_text(SCORE_PY)
    return model_dir


def _script_settings(model_dir: Path, **extra) -> dict:
    return {
        "model_dir": model_dir,
        "scoring_script": model_dir.parent / "score.py",
        "artifact_sha256": sha256_of(model_dir / "model.joblib"),
        **extra,
    }


class HeldRequest:
    """A /score request that blocks inside run() until released."""

    def __init__(self, server, model_dir: Path, name: str) -> None:
        self.model_dir, self.name = model_dir, name
        self.response: requests.Response | None = None
        body = {"data": [ROW], "hold": name}
        self.thread = threading.Thread(
            target=lambda: setattr(
                self, "response", requests.post(server.url + "/score", json=body, timeout=60)
            )
        )
        self.thread.start()
        wait_until((model_dir / f"started-{name}").exists, 30, f"request {name} to reach run()")

    def release(self) -> requests.Response:
        (self.model_dir / f"release-{self.name}").touch()
        self.thread.join(timeout=60)
        assert self.response is not None
        return self.response


def test_scoring_script_replaces_the_runtime(start_server, script_model, iris_classifier):
    server = start_server(**_script_settings(script_model))
    response = requests.post(server.url + "/score", json={"data": [ROW]}, timeout=10)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["predictions"] == iris_classifier.estimator.predict([ROW]).tolist()
    assert answer["azureml_model_dir"] == str(script_model)
    v2 = requests.post(server.url + "/v2/models/model/infer", json={"inputs": []}, timeout=10)
    assert v2.status_code == 400 and "POST /score" in v2.json()["error"]


def test_readiness_waits_for_init(start_server, script_model):
    (script_model / "hold-init").touch()
    server = start_server(wait_ready=False, **_script_settings(script_model))
    wait_until(server.is_live, 60, "liveness")
    assert requests.get(server.url + "/v2/health/ready", timeout=10).status_code == 503
    early = requests.post(server.url + "/score", json={"data": [ROW]}, timeout=10)
    assert early.status_code == 503 and "not loaded" in early.json()["error"]
    (script_model / "release-init").touch()
    server.wait_ready()


def test_over_the_concurrency_limit_gets_429(start_server, script_model):
    server = start_server(**_script_settings(script_model, max_concurrent_requests=1))
    held = HeldRequest(server, script_model, "a")
    refused = requests.post(server.url + "/score", json={"data": [ROW]}, timeout=10)
    assert refused.status_code == 429
    assert "maxConcurrentRequestsPerInstance" in refused.json()["error"]
    assert held.release().status_code == 200
    after = requests.post(server.url + "/score", json={"data": [ROW]}, timeout=10)
    assert after.status_code == 200


def test_a_slow_request_gets_504(start_server, script_model):
    server = start_server(**_script_settings(script_model, request_timeout_ms=300))
    body = {"data": [ROW], "hold": "slow"}
    response = requests.post(server.url + "/score", json=body, timeout=60)
    assert response.status_code == 504
    assert "did not finish in time" in response.json()["error"]
    (script_model / "release-slow").touch()
    ok = requests.post(server.url + "/score", json={"data": [ROW]}, timeout=10)
    assert ok.status_code == 200
    # What automatic promotion reads to tell whether a version served cleanly.
    counts = requests.get(server.url + "/monitoring/requests", timeout=10).json()
    assert (counts["answered"], counts["serverErrors"]) == (2, 1)


def test_sigterm_drains_in_flight_requests(start_server, script_model):
    server = start_server(**_script_settings(script_model))
    held = HeldRequest(server, script_model, "drain")
    server.process.send_signal(signal.SIGTERM)
    wait_until(lambda: not server.is_ready(), 30, "readiness to turn false")
    assert server.is_live(), "the server keeps listening while it drains"
    assert server.process.poll() is None
    response = held.release()
    assert response.status_code == 200 and response.json()["predictions"] == [0]
    assert server.process.wait(timeout=30) == 0


def test_digest_mismatch_refuses_to_unpickle(start_server, tmp_path):
    marker = tmp_path / "unpickled"
    model_dir = tmp_path / "evil"
    model_dir.mkdir()
    joblib.dump(RunsCodeWhenUnpickled(marker), model_dir / "model.joblib")
    server = start_server(wait_ready=False, model_dir=model_dir, artifact_sha256="0" * 64)
    assert server.process.wait(timeout=60) == 1
    log = server.log()
    assert "sha256 mismatch" in log and "refusing to load" in log
    assert not marker.exists(), "the artifact was unpickled despite a wrong digest"
    # the probe itself works: loading it does run code
    joblib.load(model_dir / "model.joblib")
    assert marker.exists()


def test_sklearn_server_with_wrong_digest_exits_nonzero(start_server, iris_classifier):
    server = start_server(
        wait_ready=False, model_dir=iris_classifier.directory, artifact_sha256="ab" * 32
    )
    assert server.process.wait(timeout=60) == 1
    assert iris_classifier.sha256 in server.log()


def test_metrics_have_the_documented_names_and_labels(start_server, iris_classifier):
    server = start_server(
        model_dir=iris_classifier.directory,
        artifact_sha256=iris_classifier.sha256,
        model_name="iris",
        model_version="7",
        deployment_name="green",
    )
    requests.post(server.url + "/score", json={"data": [ROW]}, timeout=10)
    metrics = requests.get(server.metrics_url, timeout=10).text
    labels = ('deployment="green"', 'model="iris"', 'version="7"')
    for name in (
        "modelserve_requests_total",
        "modelserve_request_duration_seconds_bucket",
        "modelserve_batch_size_rows_bucket",
        "modelserve_inflight_requests",
        "modelserve_model_load_seconds",
        "modelserve_model_ready",
    ):
        assert any(
            line.startswith(name + "{") and all(label in line for label in labels)
            for line in metrics.splitlines()
        ), f"{name} with labels {labels} missing"
    assert (
        'modelserve_requests_total{deployment="green",model="iris",protocol="rest",route="score",'
        'status="200",version="7"} 1.0' in metrics
    )
