"""The short JSON a batch pod leaves as its termination message for the operator to read."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

# The kubelet keeps at most 4096 bytes of a termination message.
MAX_MESSAGE_BYTES = 4096
_REASON_CHARS = 160


def compact(document: dict[str, Any], limit: int = MAX_MESSAGE_BYTES) -> str:
    """The document as compact JSON under ``limit`` bytes, keeping as many bad files as fit."""
    failed = document.get("failedFiles") or {}
    base = {k: v for k, v in document.items() if k != "failedFiles"}
    base["failedFileCount"] = len(failed)
    shown: dict[str, str] = {}
    text = json.dumps({**base, "failedFiles": shown}, separators=(",", ":"))
    for name, why in sorted(failed.items()):
        shown[name] = why[:_REASON_CHARS]
        candidate = json.dumps({**base, "failedFiles": shown}, separators=(",", ":"))
        if len(candidate.encode()) > limit:
            del shown[name]
            break
        text = candidate
    return text


def write_termination_message(path: Path | None, document: dict[str, Any]) -> None:
    """Write the message where the kubelet reads it: only into a file the kubelet made.

    Outside a pod the default /dev/termination-log does not exist, and creating it
    (as root, on a developer's machine) would litter /dev.
    """
    if path is None or not path.is_file():
        return
    with contextlib.suppress(OSError):
        path.write_text(compact(document))
