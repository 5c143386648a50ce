"""The compiled model kept next to its artifact, so a restart need not convert it again.

``<artifact>.<key>.onnx`` holds the graph and ``<artifact>.<key>.onnx.json`` its sha256 and
what the key was made of: the artifact's digest, the precision, the input layout and the
versions of every library that shapes the graph. A cached graph whose bytes do not hash to
the recorded digest is ignored and converted again. The cache only saves the conversion: the
answers of a cached graph are checked against scikit-learn on every load, like a fresh one's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
_LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide what a conversion produces."""
    found = {}
    for name in _LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def cache_key(artifact_sha256: str, precision: str, layout: str) -> dict[str, Any]:
    """Everything the compiled graph depends on."""
    return {
        "format": CACHE_FORMAT,
        "artifact_sha256": artifact_sha256.lower(),
        "precision": precision,
        "layout": layout,
        "libraries": library_versions(),
    }


def _paths(artifact: Path, key: dict[str, Any]) -> tuple[Path, Path]:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    graph = artifact.with_name(f"{artifact.name}.{digest}.onnx")
    return graph, graph.with_name(graph.name + ".json")


def read_cached(artifact: Path, key: dict[str, Any]) -> bytes | None:
    """The cached graph for this key, only if its bytes match the recorded sha256."""
    graph, manifest = _paths(artifact, key)
    try:
        recorded = json.loads(manifest.read_text())
        data = graph.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or recorded.get("key") != key:
        return None
    if hashlib.sha256(data).hexdigest() != recorded.get("onnx_sha256"):
        log.warning("ignoring %s: its sha256 is not the one recorded; converting again", graph)
        return None
    return data


def _write_atomic(path: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_cached(artifact: Path, key: dict[str, Any], data: bytes) -> bool:
    """Keep the graph next to the artifact; False (and no error) where that is read-only."""
    graph, manifest = _paths(artifact, key)
    record = {"key": key, "onnx_sha256": hashlib.sha256(data).hexdigest()}
    try:
        # the graph first: a manifest never names bytes that are not there yet
        _write_atomic(graph, data)
        _write_atomic(manifest, json.dumps(record, indent=2, sort_keys=True).encode())
    except OSError as exc:
        log.debug("not caching the compiled model next to %s: %s", artifact, exc)
        return False
    return True
