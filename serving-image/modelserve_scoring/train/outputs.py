"""Write what a training run produced: artifact, digest, metrics.json, baseline.json, summary."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"
DIGEST_SUFFIX = ".sha256"
# The kubelet keeps at most 4096 bytes of a termination message.
MAX_MESSAGE_BYTES = 4096


@dataclass(frozen=True)
class WrittenArtifact:
    """Where the artifact went, its digest and size."""

    path: Path
    sha256: str
    size_bytes: int

    def to_json(self) -> dict[str, Any]:
        """camelCase JSON for metrics.json."""
        return {"path": str(self.path), "sha256": self.sha256, "sizeBytes": self.size_bytes}


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def json_bytes(document: dict[str, Any]) -> bytes:
    """Strict JSON (no NaN), stable key order, readable."""
    return (json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def write_artifact(model: Any, path: Path) -> WrittenArtifact:
    """joblib-dump the model, then write it and ``<name>.sha256`` (sha256sum's format)."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    write_atomic(path, data)
    write_atomic(path.with_name(path.name + DIGEST_SUFFIX), f"{digest}  {path.name}\n".encode())
    return WrittenArtifact(path=path, sha256=digest, size_bytes=len(data))


def termination_summary(document: dict[str, Any], limit: int = MAX_MESSAGE_BYTES) -> str:
    """The run's outcome as compact JSON under ``limit`` bytes, for the operator to read.

    Per-fold scores (hundreds under leave-one-out), the search's parameters and the
    class labels are the first things left out when the summary would not fit.
    """
    summary = {
        key: document[key]
        for key in (
            "result",
            "message",
            "artifact",
            "metrics",
            "unavailableMetrics",
            "validationMetrics",
            "splitSizes",
            "gate",
            "crossValidation",
            "search",
            "nFeatures",
            "classes",
            "libraryVersions",
        )
        if document.get(key) is not None
    }
    text = json.dumps(summary, separators=(",", ":"), allow_nan=False)
    for trim in ("crossValidation.scores", "search", "classes", "libraryVersions", "gate.clauses"):
        if len(text.encode()) <= limit:
            break
        section, _, key = trim.partition(".")
        if key and isinstance(summary.get(section), dict):
            summary[section] = {k: v for k, v in summary[section].items() if k != key}
        else:
            summary.pop(section, None)
        text = json.dumps(summary, separators=(",", ":"), allow_nan=False)
    if len(text.encode()) > limit:
        # Only an enormous message is left to blame: keep the verdict and the digest.
        essential = {k: summary[k] for k in ("result", "artifact", "metrics") if k in summary}
        room = limit - len(json.dumps(essential).encode()) - 32
        essential["message"] = str(summary.get("message", ""))[: max(room, 0) // 4]
        text = json.dumps(essential, separators=(",", ":"), allow_nan=False)
    return text


def write_termination_message(path: Path | None, document: dict[str, Any]) -> None:
    """Write the summary where the kubelet reads it: only into a file the kubelet made.

    Outside a pod the default /dev/termination-log does not exist, and creating it would
    litter /dev on a developer's machine.
    """
    if path is None or not path.is_file():
        return
    with contextlib.suppress(OSError):
        path.write_text(termination_summary(document))
