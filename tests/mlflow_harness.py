"""A real MLflow tracking server for tests: `mlflow server` on loopback, SQLite metadata,
model artifacts in the SeaweedFS S3 store (proxied by the server, --serve-artifacts).

MLflow is installed in its own venv by hack/tools/mlflow.sh (pinned there); models are logged
and registered by that venv's python in a subprocess, as a data scientist's script would.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ports import LOOPBACK, free_port
from s3_harness import S3Store

REPO = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = REPO / "hack" / "tools" / "mlflow.sh"
BINARY_ENV = "MODELSERVE_MLFLOW_BIN"
ARTIFACT_BUCKET = "mlflow-artifacts"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
# Logs, registers and aliases a small scikit-learn classifier; prints the version as JSON.
LOG_MODEL_SCRIPT = Path(__file__).with_name("mlflow_log_model.py")


def mlflow_binary() -> str:
    """Path of `mlflow`: $MODELSERVE_MLFLOW_BIN, else installed once by hack/tools/mlflow.sh.

    The server is a prerequisite of these tests: a failed install fails them, never skips.
    """
    given = os.environ.get(BINARY_ENV)
    if given:
        if not os.access(given, os.X_OK):
            pytest.fail(f"{BINARY_ENV}={given} is not executable; unset it to install mlflow")
        return given
    installed = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), sys.executable],
        capture_output=True,
        text=True,
        check=False,
    )
    if installed.returncode != 0:
        pytest.fail(
            "installing MLflow failed; run `hack/tools/mlflow.sh` to see why (it needs PyPI), "
            f"or point {BINARY_ENV} at an installed mlflow.\n{installed.stderr[-3000:]}"
        )
    return installed.stdout.strip().splitlines()[-1]


@dataclass
class MLflowServer:
    """One running `mlflow server` and where it answers."""

    tracking_uri: str
    binary: str
    process: subprocess.Popen
    log_path: Path
    #: MLFLOW_TRACKING_USERNAME and _PASSWORD of its admin, when it runs the basic-auth app
    credentials: dict[str, str] = field(default_factory=dict)

    @property
    def python(self) -> str:
        """The python of MLflow's venv, which has mlflow and the pinned scikit-learn."""
        return str(Path(self.binary).with_name("python"))

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log, for failure messages."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def answers(self) -> bool:
        """Whether the server's health endpoint says OK."""
        try:
            with urllib.request.urlopen(f"{self.tracking_uri}/health", timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_model(self, name: str, alias: str | None = None, seed: int = 0) -> str:
        """Train, log and register a classifier as `name` (optionally aliased); its version."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
        env["MLFLOW_TRACKING_URI"] = self.tracking_uri
        env.update(self.credentials)
        done = subprocess.run(
            [self.python, str(LOG_MODEL_SCRIPT), name, alias or "", str(seed)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"logging a model to MLflow failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])["version"]

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point `alias` at `version`, through MLflow's REST API as its clients do."""
        request = urllib.request.Request(
            f"{self.tracking_uri}/api/2.0/mlflow/registered-models/alias",
            data=json.dumps({"name": name, "alias": alias, "version": version}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200

    def delete_files(self, store: S3Store, name: str, version: str) -> None:
        """Remove every object of the version's model directory from the artifact store."""
        from modelserve_api import mlflow_registry as registry

        download_uri = registry.Registry(self.tracking_uri).resolve(f"models:/{name}/{version}")
        root = registry.artifact_path(download_uri.download_uri)
        client = store.client()
        listed = client.list_objects_v2(Bucket=ARTIFACT_BUCKET, Prefix=root).get("Contents") or []
        assert listed, f"no objects under {root}"
        for item in listed:
            client.delete_object(Bucket=ARTIFACT_BUCKET, Key=item["Key"])

    def stop(self) -> None:
        """Stop the server's process group (its gunicorn/uvicorn workers) by its PID."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_S)


def basic_auth_settings(workdir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(server environment, admin credentials) of MLflow's basic-auth app: a fresh admin
    password, its user database in workdir, and nothing readable without signing in."""
    password = secrets.token_urlsafe(18)
    config = workdir / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{workdir / 'basic_auth.db'}\n"
        "admin_username = admin\n"
        f"admin_password = {password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
    }
    return env, {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": password}


def start_mlflow(
    binary: str,
    workdir: Path,
    store: S3Store,
    basic_auth: bool = False,
    host: str = LOOPBACK,
) -> MLflowServer:
    """A running tracking server whose artifacts go to `store` (a bucket per server), with
    MLflow's basic-auth app if asked; else fail the test."""
    bucket = f"{ARTIFACT_BUCKET}-auth" if basic_auth else ARTIFACT_BUCKET
    store.create_bucket(bucket)
    port = free_port()
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MLFLOW_"))
    }
    env.update(
        MLFLOW_S3_ENDPOINT_URL=store.endpoint_url,
        AWS_ACCESS_KEY_ID=store.access_key,
        AWS_SECRET_ACCESS_KEY=store.secret_key,
        AWS_DEFAULT_REGION=store.region,
    )
    credentials: dict[str, str] = {}
    app = []
    if basic_auth:
        auth_env, credentials = basic_auth_settings(workdir)
        env.update(auth_env)
        app = ["--app-name", "basic-auth"]
    log_path = workdir / "mlflow.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                binary,
                "server",
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{workdir / 'mlflow.db'}",
                "--serve-artifacts",
                "--artifacts-destination",
                f"s3://{bucket}/",
                *app,
            ],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # its own process group, so stop() reaches the workers it spawns
            start_new_session=True,
        )
    server = MLflowServer(f"http://{host}:{port}", binary, process, log_path, credentials)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"mlflow server exited with code {process.returncode}; see {log_path}:\n"
                f"{server.log_tail()}"
            )
        if server.answers():
            return server
        time.sleep(0.25)
    server.stop()
    pytest.fail(
        f"mlflow server did not answer within {START_TIMEOUT_S:.0f} s:\n{server.log_tail()}"
    )
