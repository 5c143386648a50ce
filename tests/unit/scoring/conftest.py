"""Fixtures for the scoring server's tests: models trained on scikit-learn's bundled datasets, and a
real `modelserve-scoring serve` subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import pytest
import requests
from scoring_helpers import SCORING_CLI, free_port, sha256_of, wait_until
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

START_DEADLINE_S = 60.0


@dataclass
class TrainedModel:
    """A model saved with joblib in its own directory, and the data it was trained on."""

    directory: Path
    artifact: Path
    sha256: str
    estimator: object
    X: object
    y: object


def _save(directory: Path, estimator: object, X: object, y: object) -> TrainedModel:
    directory.mkdir(parents=True)
    artifact = directory / "model.joblib"
    joblib.dump(estimator, artifact)
    return TrainedModel(directory, artifact, sha256_of(artifact), estimator, X, y)


@pytest.fixture(scope="session")
def iris_classifier(tmp_path_factory) -> TrainedModel:
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    return _save(tmp_path_factory.mktemp("iris") / "model", model, X, y)


@pytest.fixture(scope="session")
def diabetes_regressor(tmp_path_factory) -> TrainedModel:
    X, y = load_diabetes(return_X_y=True)
    model = Ridge(alpha=0.5).fit(X, y)
    return _save(tmp_path_factory.mktemp("diabetes") / "model", model, X, y)


@pytest.fixture(scope="session")
def cancer_pipeline(tmp_path_factory) -> TrainedModel:
    """A Pipeline (scaling + classifier) fit on a DataFrame, so it knows its feature names."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    return _save(tmp_path_factory.mktemp("cancer") / "model", model, X, y)


@dataclass
class ScoringServer:
    """A running `modelserve-scoring serve` process."""

    process: subprocess.Popen
    port: int
    metrics_port: int
    log_path: Path
    env: dict[str, str] = field(repr=False)
    grpc_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_target(self) -> str:
        """host:port of the v2 gRPC service, as tritonclient.grpc takes it."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def is_ready(self) -> bool:
        try:
            return requests.get(self.url + "/v2/health/ready", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def is_live(self) -> bool:
        try:
            return requests.get(self.url + "/v2/health/live", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def wait_ready(self) -> None:
        def ready_or_dead() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log()}")
            return self.is_ready()

        wait_until(ready_or_dead, START_DEADLINE_S, f"readiness of {self.url}\n{self.log()}")

    def settled_metadata(self, model_name: str = "model") -> dict:
        """The v2 model metadata once the runtime choice is made: runtime auto turns Ready
        serving with scikit-learn and checks ONNX Runtime in the background."""
        url = f"{self.url}/v2/models/{model_name}"
        found: dict = {}

        def settled() -> bool:
            found.update(requests.get(url, timeout=10).json())
            return not found["parameters"].get("runtime_pending")

        wait_until(settled, START_DEADLINE_S, f"the runtime choice of {url}\n{self.log()}")
        return found

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def launch(log_dir: Path, **settings: object) -> ScoringServer:
    """Start `modelserve-scoring serve` with these MODELSERVE_* settings on free loopback ports."""
    port, metrics_port, grpc_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSERVE_")}
    env.update(
        {
            "MODELSERVE_HOST": "127.0.0.1",
            "MODELSERVE_HTTP_PORT": str(port),
            "MODELSERVE_METRICS_PORT": str(metrics_port),
            "MODELSERVE_GRPC_PORT": str(grpc_port),
        }
    )
    env.update({f"MODELSERVE_{k.upper()}": str(v) for k, v in settings.items()})
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(SCORING_CLI), "serve"], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    return ScoringServer(process, port, metrics_port, log_path, env, grpc_port)


@pytest.fixture
def start_server(tmp_path) -> Iterator[Callable[..., ScoringServer]]:
    """Start servers with the given MODELSERVE_* settings; all are stopped after the test."""
    started: list[ScoringServer] = []

    def start(wait_ready: bool = True, **settings: object) -> ScoringServer:
        server = launch(tmp_path, **settings)
        started.append(server)
        if wait_ready:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def start_module_server(request, tmp_path_factory) -> Callable[..., ScoringServer]:
    """Start servers with the given MODELSERVE_* settings, shared by a test module."""

    def start(**settings: object) -> ScoringServer:
        server = launch(tmp_path_factory.mktemp("logs"), **settings)
        request.addfinalizer(server.stop)
        server.wait_ready()
        return server

    return start


def _module_server(request, tmp_path_factory, model: TrainedModel, **settings: object):
    """A server shared by a test module (starting one costs seconds of imports)."""
    server = launch(
        tmp_path_factory.mktemp("logs"),
        model_dir=model.directory,
        artifact_sha256=model.sha256,
        **settings,
    )
    request.addfinalizer(server.stop)
    server.wait_ready()
    return server


@pytest.fixture(scope="module")
def iris_server(request, tmp_path_factory, iris_classifier) -> ScoringServer:
    return _module_server(
        request,
        tmp_path_factory,
        iris_classifier,
        model_name="iris",
        model_version="3",
        deployment_name="blue",
        max_body_bytes=64 * 1024,
    )


@pytest.fixture(scope="module")
def diabetes_server(request, tmp_path_factory, diabetes_regressor) -> ScoringServer:
    return _module_server(request, tmp_path_factory, diabetes_regressor, model_name="diabetes")


@pytest.fixture(scope="module")
def cancer_server(request, tmp_path_factory, cancer_pipeline) -> ScoringServer:
    return _module_server(request, tmp_path_factory, cancer_pipeline, model_name="cancer")
