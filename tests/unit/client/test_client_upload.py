"""The upload pod and the scripts it runs: the file gets its name only with the right digest."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from modelserve_client.upload import (
    CHECK_SCRIPT,
    RECEIVE_SCRIPT,
    build_uploader_pod,
    pod_blocker,
)


def receive(destination: Path, payload: bytes, size: int, sha256: str):
    return subprocess.run(
        [sys.executable, "-c", RECEIVE_SCRIPT, str(destination), str(size), sha256],
        input=payload,
        capture_output=True,
        timeout=60,
    )


def test_receive_stores_exactly_the_announced_bytes_without_waiting_for_end_of_file(tmp_path):
    payload = bytes(range(256)) * 10_000
    destination = tmp_path / "models" / "iris" / "1" / "model.joblib"
    # Trailing bytes beyond the size are never read: the exec stream has no end-of-file.
    result = receive(
        destination, payload + b"junk", len(payload), hashlib.sha256(payload).hexdigest()
    )
    assert result.returncode == 0, result.stderr
    assert destination.read_bytes() == payload
    assert oct(destination.stat().st_mode & 0o777) == "0o644"
    assert not destination.with_name("model.joblib.partial").exists()


def test_receive_refuses_bytes_with_another_digest_and_leaves_nothing(tmp_path):
    destination = tmp_path / "model.joblib"
    result = receive(destination, b"tampered", 8, hashlib.sha256(b"original").hexdigest())
    assert result.returncode != 0
    assert b"received 8 of 8 bytes with sha256" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_receive_refuses_a_short_stream(tmp_path):
    destination = tmp_path / "model.joblib"
    result = receive(destination, b"abc", 10, hashlib.sha256(b"abc").hexdigest())
    assert result.returncode != 0 and b"received 3 of 10 bytes" in result.stderr
    assert not destination.exists()


def test_check_reports_absent_or_the_digest(tmp_path):
    path = tmp_path / "model.joblib"

    def check() -> str:
        run = subprocess.run(
            [sys.executable, "-c", CHECK_SCRIPT, str(path)], capture_output=True, text=True
        )
        return run.stdout.strip()

    assert check() == "absent"
    path.write_bytes(b"model")
    assert check() == hashlib.sha256(b"model").hexdigest()


def test_the_upload_pod_mounts_the_claim_as_a_non_root_user_and_ends_by_itself():
    pod = build_uploader_pod("modelserve-upload-1", "models", "img:1", {"disk": "ssd"})
    spec = pod["spec"]
    assert spec["volumes"] == [
        {"name": "artifact", "persistentVolumeClaim": {"claimName": "models"}}
    ]
    assert spec["nodeSelector"] == {"disk": "ssd"}
    assert spec["restartPolicy"] == "Never" and spec["activeDeadlineSeconds"] > 0
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsUser"] != 0
    assert spec["automountServiceAccountToken"] is False
    container = spec["containers"][0]
    assert container["image"] == "img:1" and container["imagePullPolicy"] == "IfNotPresent"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "nodeSelector" not in build_uploader_pod("p", "models", "img:1")["spec"]


def pod(phase: str = "Pending", waiting: str | None = None, scheduled: str | None = None) -> dict:
    status: dict = {"phase": phase}
    if waiting:
        status["containerStatuses"] = [
            {"state": {"waiting": {"reason": waiting, "message": "no such image"}}}
        ]
    if scheduled:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "message": scheduled}]
    return {"status": status}


def test_pod_blocker_tells_waiting_from_hopeless():
    assert pod_blocker(pod("Running")) == (False, "")
    assert pod_blocker(pod(waiting="ErrImageNeverPull")) == (
        True,
        "ErrImageNeverPull: no such image",
    )
    assert pod_blocker(pod(waiting="ContainerCreating")) == (False, "ContainerCreating")
    hopeless, why = pod_blocker(pod(scheduled="0/3 nodes: unbound claim"))
    assert not hopeless and why == "not scheduled: 0/3 nodes: unbound claim"
    assert pod_blocker(pod("Failed"))[0] is True
