"""The scoring image, run by Docker as its users would: a real model, a real container."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import joblib
import pytest
import requests
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]

REPO_ROOT = Path(__file__).resolve().parents[2]
# A prebuilt image may be named here (e.g. in CI); otherwise images/build.sh makes one.
IMAGE = os.environ.get("MODELSERVE_SCORING_IMAGE", "modelserve/scoring:dev")
MODEL_NAME = "iris"
READY_DEADLINE_S = 90.0
EXIT_DEADLINE_S = 60.0


def _run(*args: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args[:3])} … exited {result.returncode}: {result.stderr.strip()}")
    return result


@pytest.fixture(scope="module")
def scoring_image() -> str:
    """Start Docker if needed and build (or reuse) the scoring image; fail, never skip."""
    started = subprocess.run(
        [str(REPO_ROOT / "hack" / "docker.sh")], capture_output=True, text=True, timeout=300
    )
    if started.returncode != 0:
        pytest.fail(f"no Docker engine: hack/docker.sh failed:\n{started.stderr}")
    if "MODELSERVE_SCORING_IMAGE" in os.environ:
        if _run("docker", "image", "inspect", IMAGE, check=False).returncode != 0:
            pytest.fail(f"MODELSERVE_SCORING_IMAGE={IMAGE} names an image Docker does not have")
        return IMAGE
    built = subprocess.run(
        [str(REPO_ROOT / "images" / "build.sh"), "serving"],
        capture_output=True,
        text=True,
        timeout=1100,
    )
    if built.returncode != 0:
        pytest.fail(f"images/build.sh serving failed:\n{built.stdout}\n{built.stderr}")
    return IMAGE


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[LogisticRegression, Path, str]:
    """A fitted iris classifier saved with joblib, readable by the image's non-root user."""
    features, target = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, target)
    model_dir = tmp_path_factory.mktemp("model")
    artifact = model_dir / "model.joblib"
    joblib.dump(model, artifact)
    # The container runs as UID 65532, not as the owner of these files.
    model_dir.chmod(0o755)
    artifact.chmod(0o644)
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    return model, model_dir, digest


def _start_container(image: str, model_dir: Path, sha256: str, started: list[str]) -> str:
    name = f"modelserve-test-{uuid.uuid4().hex[:10]}"
    # Recorded before `docker run`: a run that fails to start still leaves a container.
    started.append(name)
    _run(
        "docker", "run", "--detach", "--name", name,
        # Published on loopback only: nothing outside this machine can reach it.
        "--publish", "127.0.0.1::8080",
        # The restrictions a hardened pod spec applies: the image must work under them.
        "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--volume", f"{model_dir}:/models:ro",
        "--env", f"MODELSERVE_MODEL_NAME={MODEL_NAME}",
        "--env", "MODELSERVE_MODEL_VERSION=1",
        "--env", "MODELSERVE_MODEL_DIR=/models",
        "--env", "MODELSERVE_ARTIFACT_PATH=/models/model.joblib",
        "--env", f"MODELSERVE_ARTIFACT_SHA256={sha256}",
        image,
    )  # fmt: skip
    return name


@pytest.fixture
def containers() -> Iterator[list[str]]:
    """Names of containers a test started; all are removed afterwards, pass or fail."""
    names: list[str] = []
    yield names
    for name in names:
        _run("docker", "rm", "--force", name, check=False)


def _state(name: str) -> dict:
    out = _run("docker", "inspect", "--format", "{{json .State}}", name).stdout
    return json.loads(out)


def _logs(name: str) -> str:
    result = _run("docker", "logs", name, check=False)
    return result.stdout + result.stderr


def _published_url(name: str) -> str:
    binding = _run("docker", "port", name, "8080/tcp").stdout.splitlines()[0].strip()
    host, port = binding.rsplit(":", 1)
    assert host == "127.0.0.1", f"port published on {host}, expected loopback only"
    return f"http://127.0.0.1:{port}"


def _wait_until_ready(name: str, base_url: str) -> None:
    deadline = time.monotonic() + READY_DEADLINE_S
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        state = _state(name)
        if not state["Running"]:
            pytest.fail(f"container exited ({state['ExitCode']}) before ready:\n{_logs(name)}")
        try:
            response = requests.get(f"{base_url}/v2/health/ready", timeout=2)
            if response.status_code == 200:
                return
            last_error = f"HTTP {response.status_code}: {response.text[:200]}"
        except requests.RequestException as exc:
            last_error = str(exc)
        time.sleep(0.25)
    pytest.fail(f"not ready within {READY_DEADLINE_S}s ({last_error}):\n{_logs(name)}")


def _wait_for_exit(name: str) -> dict:
    deadline = time.monotonic() + EXIT_DEADLINE_S
    while time.monotonic() < deadline:
        state = _state(name)
        if state["Status"] == "exited":
            return state
        time.sleep(0.25)
    pytest.fail(f"container still running after {EXIT_DEADLINE_S}s:\n{_logs(name)}")


def test_serves_the_same_predictions_as_the_model_as_a_non_root_user(
    scoring_image, iris_model, containers
):
    model, model_dir, digest = iris_model
    name = _start_container(scoring_image, model_dir, digest, containers)
    base_url = _published_url(name)
    _wait_until_ready(name, base_url)

    uid = _run("docker", "exec", name, "id", "-u").stdout.strip()
    assert uid != "0", "the scoring server runs as root"
    assert uid == "65532"

    rows, _ = load_iris(return_X_y=True)
    sample = rows[::15]  # every class appears in this sample
    request = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(sample.shape),
                "datatype": "FP64",
                "data": sample.ravel().tolist(),
            }
        ]
    }
    response = requests.post(f"{base_url}/v2/models/{MODEL_NAME}/infer", json=request, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == MODEL_NAME
    predicted = body["outputs"][0]["data"]
    assert [int(p) for p in predicted] == model.predict(sample).tolist()


def test_refuses_to_load_an_artifact_whose_digest_does_not_match(
    scoring_image, iris_model, containers
):
    _, model_dir, digest = iris_model
    wrong = hashlib.sha256(b"not the model").hexdigest()
    assert wrong != digest
    name = _start_container(scoring_image, model_dir, wrong, containers)

    state = _wait_for_exit(name)
    logs = _logs(name)
    assert state["ExitCode"] != 0, f"exited 0 although the digest is wrong:\n{logs}"
    assert "sha256 mismatch" in logs, logs
    assert wrong in logs, f"the log does not name the expected digest:\n{logs}"
