"""Copy a model file onto a PersistentVolumeClaim through a short-lived pod and the exec API."""

from __future__ import annotations

import posixpath
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from modelserve_api import constants as c
from modelserve_api.kube import error_from_answer

from .artifacts import ARTIFACT_LABEL_MANAGED_BY, ArtifactFile, ArtifactPlan
from .errors import ModelserveError
from .kube import Kube, api_error, core_path
from .progress import Progress

DEFAULT_UPLOADER_IMAGE = c.DEFAULT_SCORING_IMAGE
MOUNT_DIR = "/mnt/artifact"
CHUNK_BYTES = 256 * 1024
# The pod ends itself after this long even if the client dies before deleting it.
POD_LIFETIME_S = 900
# Waiting reasons that no amount of waiting fixes.
_HOPELESS_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
}

# Prints the sha256 of the file at argv[1], or "absent".
CHECK_SCRIPT = """
import hashlib, os, sys
path = sys.argv[1]
if not os.path.exists(path):
    print("absent")
    sys.exit(0)
digest = hashlib.sha256()
with open(path, "rb") as stream:
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
print(digest.hexdigest())
"""

# Reads exactly argv[2] bytes from stdin (no end-of-file needed), checks their sha256
# against argv[3], and only then moves them to argv[1]: a broken copy never has the name.
RECEIVE_SCRIPT = """
import hashlib, os, sys
path, size, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(os.path.dirname(path), exist_ok=True)
partial = path + ".partial"
digest, left = hashlib.sha256(), size
with open(partial, "wb") as out:
    while left:
        chunk = sys.stdin.buffer.read(min(left, 1 << 20))
        if not chunk:
            break
        out.write(chunk)
        digest.update(chunk)
        left -= len(chunk)
if left or digest.hexdigest() != expected:
    os.unlink(partial)
    sys.exit(f"received {size - left} of {size} bytes with sha256 {digest.hexdigest()}")
os.chmod(partial, 0o644)
os.replace(partial, path)
print("stored", digest.hexdigest())
"""


def build_uploader_pod(
    name: str, claim: str, image: str, node_selector: dict[str, str] | None = None
) -> dict[str, Any]:
    """A pod that mounts the claim and idles until the file has been streamed in."""
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": POD_LIFETIME_S,
        "terminationGracePeriodSeconds": 1,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # The scoring pods' uid; storage that honours fsGroup makes the claim writable to it.
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": c.NON_ROOT_UID,
            "runAsGroup": c.NON_ROOT_UID,
            "fsGroup": c.NON_ROOT_UID,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "uploader",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["python3", "-c", f"import time; time.sleep({POD_LIFETIME_S})"],
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [{"name": "artifact", "mountPath": MOUNT_DIR}],
            }
        ],
        "volumes": [{"name": "artifact", "persistentVolumeClaim": {"claimName": claim}}],
    }
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {
                c.LABEL_NAME: "modelserve",
                c.LABEL_MANAGED_BY: ARTIFACT_LABEL_MANAGED_BY,
                c.LABEL_COMPONENT: "artifact-upload",
            },
        },
        "spec": spec,
    }


def pod_blocker(pod: dict[str, Any]) -> tuple[bool, str]:
    """(hopeless, why) when the pod is not running yet; (False, '') when it runs."""
    status = pod.get("status") or {}
    phase = status.get("phase", "Pending")
    if phase == "Running":
        return False, ""
    if phase in ("Failed", "Succeeded"):
        return True, f"the pod ended ({phase}): {status.get('message') or status.get('reason')}"
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in _HOPELESS_WAITING:
            return True, f"{reason}: {waiting.get('message', '')}".rstrip(": ")
        if reason:
            return False, reason
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return False, f"not scheduled: {condition.get('message', '')}"
    return False, phase


def upload_to_claim(
    kube: Kube,
    namespace: str,
    artifact: ArtifactFile,
    plan: ArtifactPlan,
    progress: Progress,
    image: str = DEFAULT_UPLOADER_IMAGE,
    node_selector: dict[str, str] | None = None,
    start_timeout: float = 180.0,
) -> None:
    """Stream the file onto the claim; the pod checks the sha256 before the file gets its name."""
    claim_path = core_path(namespace, "persistentvolumeclaims", plan.target)
    if kube.get(claim_path, f"read PersistentVolumeClaim {plan.target}") is None:
        raise ModelserveError(
            f"PersistentVolumeClaim {plan.target!r} does not exist in namespace {namespace!r}",
            "create the claim first, or pass an existing one to --pvc",
        )
    pod_name = f"modelserve-upload-{uuid.uuid4().hex[:8]}"
    pods = core_path(namespace, "pods")
    pod = build_uploader_pod(pod_name, plan.target, image, node_selector)
    kube.create(pods, pod, f"create pod {pod_name} in namespace {namespace}")
    try:
        progress.step(f"starting pod {pod_name} to copy the file onto claim {plan.target} ...")
        _wait_running(kube, namespace, pod_name, image, start_timeout, progress)
        destination = posixpath.join(MOUNT_DIR, plan.inner_path)
        check = ["python3", "-c", CHECK_SCRIPT, destination]
        rc, out, err = _exec(kube, namespace, pod_name, check)
        if rc != 0:
            raise ModelserveError(f"cannot read the claim {plan.target}: {err or out}")
        existing = out.strip()
        if existing == artifact.sha256:
            progress.step(f"{plan.uri} already holds this file (same sha256); not copied again")
            return
        if existing != "absent":
            raise ModelserveError(
                f"{plan.uri} already holds a different file (sha256 {existing})",
                "pass another --pvc-path, or a new --version",
            )
        command = [
            "python3",
            "-c",
            RECEIVE_SCRIPT,
            destination,
            str(artifact.size),
            artifact.sha256,
        ]
        rc, out, err = _exec(kube, namespace, pod_name, command, artifact.path, progress)
        if rc != 0:
            fix = ""
            if "Permission denied" in err:
                fix = (
                    f"the claim must be writable by uid/gid {c.NON_ROOT_UID} (storage that "
                    "honours the pod's fsGroup is); fix its permissions or use another claim"
                )
            raise ModelserveError(f"copying onto claim {plan.target} failed: {err.strip()}", fix)
        progress.step(f"copied {artifact.path.name} to {plan.uri} (sha256 verified in the pod)")
    finally:
        kube.delete(core_path(namespace, "pods", pod_name), f"delete pod {pod_name}")


def _wait_running(
    kube: Kube, namespace: str, name: str, image: str, timeout: float, progress: Progress
) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        pod = kube.get(core_path(namespace, "pods", name), f"read pod {name}") or {}
        hopeless, why = pod_blocker(pod)
        if not why:
            return
        if hopeless:
            raise ModelserveError(
                f"the upload pod {name} cannot run: {why}",
                f"pass --uploader-image with an image that has python3 and that the nodes can "
                f"pull (now {image}), and --node-selector to pick nodes that can run it",
            )
        if why != last:
            progress.step(f"  upload pod: {why}")
            last = why
        if time.monotonic() > deadline:
            raise ModelserveError(
                f"the upload pod {name} did not start within {timeout:.0f} s ({why})",
                "check that the claim can be mounted (kubectl describe pod) or pass "
                "--node-selector to run it on nodes that can",
            )
        time.sleep(1.0)


def _exec(
    kube: Kube,
    namespace: str,
    pod: str,
    command: list[str],
    stdin_file: Path | None = None,
    progress: Progress | None = None,
) -> tuple[int, str, str]:
    """Run `command` in the pod, streaming `stdin_file` in; (exit code, stdout, stderr)."""
    try:
        session = stream(
            kube.core_v1().connect_get_namespaced_pod_exec,
            pod,
            namespace,
            container="uploader",
            command=command,
            stdin=stdin_file is not None,
            stdout=True,
            stderr=True,
            tty=False,
            binary=True,
            _preload_content=False,
        )
    except ApiException as error:
        raise api_error(
            error_from_answer(error.status, error.body), f"exec into pod {pod}"
        ) from None
    try:
        if stdin_file is not None:
            total = stdin_file.stat().st_size
            done = 0
            with stdin_file.open("rb") as source:
                while chunk := source.read(CHUNK_BYTES):
                    session.write_stdin(chunk)
                    done += len(chunk)
                    # Drain what the pod says, so a failure is seen before all bytes are sent.
                    session.update(timeout=0)
                    if not session.is_open():
                        break
                    if progress is not None:
                        progress.transfer(done, total, f"uploading {stdin_file.name}")
        session.run_forever(timeout=600)
        out = session.read_stdout(timeout=0) or b""
        err = session.read_stderr(timeout=0) or b""
        rc = session.returncode
    finally:
        session.close()
    return (rc if rc is not None else 1), out.decode(errors="replace"), err.decode(errors="replace")
