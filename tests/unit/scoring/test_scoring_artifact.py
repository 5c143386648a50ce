"""`modelserve-scoring fetch` (the init container) and the CLI's settings, run as a user would."""

from __future__ import annotations

import functools
import http.server
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from modelserve_api.runtime_report import LoadRefusal
from modelserve_scoring.artifact import find_artifact
from modelserve_scoring.errors import ArtifactError
from scoring_helpers import SCORING_CLI


def fetch(uri: str, sha256: str, dest: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCORING_CLI), "fetch", "--uri", uri, "--sha256", sha256, "--dest", str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def http_server(iris_classifier):
    """Serves the iris model directory over HTTP on loopback."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(iris_classifier.directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on (bound, then closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("form", ["path", "file-uri", "http"])
def test_fetch_copies_and_verifies(form, tmp_path, iris_classifier, http_server):
    uri = {
        "path": str(iris_classifier.artifact),
        "file-uri": iris_classifier.artifact.as_uri(),
        "http": http_server + "/model.joblib",
    }[form]
    result = fetch(uri, iris_classifier.sha256, tmp_path / "dest")
    assert result.returncode == 0, result.stderr
    fetched = tmp_path / "dest" / "model.joblib"
    assert fetched.read_bytes() == iris_classifier.artifact.read_bytes()


@pytest.mark.parametrize("form", ["path", "http"])
def test_fetch_refuses_a_wrong_digest(form, tmp_path, iris_classifier, http_server):
    uri = str(iris_classifier.artifact) if form == "path" else http_server + "/model.joblib"
    result = fetch(uri, "0" * 64, tmp_path / "dest")
    assert result.returncode == 1
    assert "sha256 mismatch" in result.stderr and iris_classifier.sha256 in result.stderr
    assert list((tmp_path / "dest").iterdir()) == [], "nothing may be left behind"
    # the operator finds this line in the init container's termination message
    refusal = LoadRefusal.from_termination_message(result.stdout)
    assert refusal is not None and refusal.reason == "ArtifactDigestMismatch"


def test_fetch_refuses_an_unreachable_server(tmp_path, iris_classifier, closed_port):
    result = fetch(f"http://127.0.0.1:{closed_port}/model.joblib", iris_classifier.sha256, tmp_path)
    assert result.returncode == 1
    refusal = LoadRefusal.from_termination_message(result.stdout)
    assert refusal is not None and refusal.reason == "ArtifactUnreachable"
    assert f"127.0.0.1:{closed_port}" in refusal.message


def test_fetch_names_what_is_wrong(tmp_path, iris_classifier, http_server):
    missing = fetch(http_server + "/absent.joblib", iris_classifier.sha256, tmp_path)
    assert missing.returncode == 1 and "404" in missing.stderr
    refusal = LoadRefusal.from_termination_message(missing.stdout + missing.stderr)
    assert refusal is not None and refusal.reason == "ArtifactNotFound"
    assert "/absent.joblib" in refusal.message
    scheme = fetch("gs://bucket/model.joblib", iris_classifier.sha256, tmp_path)
    assert scheme.returncode == 1 and "unsupported artifact URI scheme 'gs'" in scheme.stderr
    not_hex = fetch(str(iris_classifier.artifact), "xyz", tmp_path)
    assert not_hex.returncode == 1 and "not 64 hex digits" in not_hex.stderr


def test_find_artifact_needs_exactly_one_file(tmp_path):
    with pytest.raises(ArtifactError, match="found none"):
        find_artifact(tmp_path)
    (tmp_path / "a.joblib").write_bytes(b"x")
    assert find_artifact(tmp_path) == tmp_path / "a.joblib"
    (tmp_path / "b.pkl").write_bytes(b"x")
    with pytest.raises(ArtifactError, match="MODELSERVE_ARTIFACT_PATH"):
        find_artifact(tmp_path)


def test_serve_rejects_an_invalid_setting_by_name():
    result = subprocess.run(
        [str(SCORING_CLI), "serve", "--http-port", "not-a-port"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "http_port" in result.stderr


def test_serve_help_lists_every_setting():
    result = subprocess.run(
        [str(SCORING_CLI), "serve", "--help"], capture_output=True, text=True, timeout=60
    )
    for flag in (
        "--model-name", "--model-version", "--deployment-name", "--model-dir", "--artifact-path",
        "--artifact-sha256", "--scoring-script", "--host", "--http-port", "--metrics-port",
        "--max-concurrent-requests", "--request-timeout-ms", "--max-batch-size",
        "--max-batch-delay-ms", "--max-body-bytes", "--log-level",
    ):  # fmt: skip
        assert flag in result.stdout


def test_fetch_and_serve_skip_what_they_do_not_use(iris_classifier, tmp_path):
    """Every scoring pod runs `fetch`, then `serve`: neither imports another command's code
    (pydantic-settings for fetch; the batch and train commands for either; boto3 unless the
    artifact is on s3://)."""
    script = textwrap.dedent(
        f"""
        import sys
        from modelserve_scoring import cli
        cli.main(["fetch", "--uri", {str(iris_classifier.artifact)!r},
                  "--sha256", {iris_classifier.sha256!r}, "--dest", {str(tmp_path)!r}])
        fetch = [m for m in ("pydantic_settings", "modelserve_scoring.train", "boto3")
                 if m in sys.modules]
        cli.build_parser("serve").parse_args(["serve"])
        serve = [m for m in ("modelserve_scoring.train", "modelserve_scoring.batch", "boto3")
                 if m in sys.modules]
        print(fetch, serve)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[] []"
    assert (tmp_path / "model.joblib").is_file()
