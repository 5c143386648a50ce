"""Fixtures of the router data-plane tests: real nginx in front of real scoring servers."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dataplane_harness import (
    PRIMARY_KEY,
    SCORING_CLI,
    SECONDARY_KEY,
    Router,
    ScoringServer,
    free_ports,
    launch_scoring_server,
    port_free_on,
    stop_processes,
    wait_ready,
    wait_until,
)
from modelserve_api.constants import SCORING_GRPC_PORT
from modelserve_operator.builders.router_config import Backend, RouterConfig, render_key_map


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "nginx: needs Debian's nginx binary (apt-get install nginx)")


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    """Path of nginx; a missing nginx fails the test (CI must install it), never skips it."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if not found:
        pytest.fail(
            "nginx is not installed: the router data-plane tests need a real nginx. "
            "Install it with `apt-get install -y nginx-light` (Debian) and run again."
        )
    return found


@pytest.fixture(scope="session")
def model_artifact(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A small scikit-learn classifier saved with joblib, and its sha256."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    directory = tmp_path_factory.mktemp("model")
    features, target = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, target)
    artifact = directory / "model.joblib"
    joblib.dump(model, artifact)
    return artifact, hashlib.sha256(artifact.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def scoring_servers(
    model_artifact: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ScoringServer]]:
    """Three deployments of the same model (blue, green, shadow), shared by all tests."""
    wait_until(
        lambda: (
            subprocess.run(
                [str(SCORING_CLI), "serve", "--help"], capture_output=True, timeout=60
            ).returncode
            == 0
        ),
        f"`{SCORING_CLI} serve --help` to work (the scoring server)",
        timeout=120,
    )
    artifact, sha256 = model_artifact
    logs = tmp_path_factory.mktemp("scoring-logs")
    servers: dict[str, ScoringServer] = {}
    hosts = {"blue": "127.0.0.11", "green": "127.0.0.12", "shadow": "127.0.0.13"}
    grpc_port = port_free_on(list(hosts.values()))
    settings = {
        "MODELSERVE_MODEL_NAME": "iris",
        "MODELSERVE_MODEL_DIR": str(artifact.parent),
        "MODELSERVE_ARTIFACT_PATH": str(artifact),
        "MODELSERVE_ARTIFACT_SHA256": sha256,
    }
    try:
        for name, host in hosts.items():
            servers[name] = launch_scoring_server(name, host, grpc_port, settings, logs)
        wait_ready(servers.values())
        yield servers
    finally:
        stop_processes(server.process for server in servers.values())


@pytest.fixture
def start_router(nginx_binary: str) -> Iterator[Callable[..., Router]]:
    """Start nginx with a rendered config; keys (if any) go to a separate keys file."""
    routers: list[Router] = []
    workdirs: list[str] = []

    def start(
        backends: list[Backend],
        mirror: tuple[str, int] | None = None,
        auth_mode: str = "none",
        keys: tuple[str, ...] = (PRIMARY_KEY, SECONDARY_KEY),
        request_timeout_ms: int = 30000,
        max_body_mb: int = 100,
        backend_grpc_port: int = SCORING_GRPC_PORT,
        feedback_collector: str | None = None,
    ) -> Router:
        # Not under pytest's tmp_path: its parents are private to root, and nginx runs as nobody.
        workdir = Path(tempfile.mkdtemp(prefix="modelserve-router-"))
        workdirs.append(str(workdir))
        keys_file = workdir / "nginx-keys.conf"
        keys_file.write_text(render_key_map(list(keys)))
        listen_port, grpc_listen_port = free_ports(2)
        cfg = RouterConfig(
            endpoint="iris",
            backends=tuple(backends),
            mirror=mirror,
            auth_mode=auth_mode,
            listen_port=listen_port,
            keys_file=str(keys_file),
            request_timeout_ms=request_timeout_ms,
            runtime_dir=str(workdir),
            max_body_mb=max_body_mb,
            grpc_listen_port=grpc_listen_port,
            backend_grpc_port=backend_grpc_port,
            feedback_collector=feedback_collector,
        )
        router = Router(nginx_binary, workdir, cfg)
        routers.append(router)
        router.start()
        return router

    yield start
    for router in routers:
        router.stop()
    for workdir in workdirs:
        shutil.rmtree(workdir, ignore_errors=True)
