"""The compiled model kept next to its artifact, so a restart need not convert it again.

``<artifact>.<key>.onnx`` holds the graph and ``<artifact>.<key>.onnx.json`` its sha256 and
what the key was made of: the artifact's digest, the precision, the input layout and the
versions of every library that shapes the graph.

The files sit where model code and model volumes can write, so they are never trusted on their
own word: a graph edited to answer differently for one trigger value passes the load-time check
on random rows, and its manifest can be rewritten to match. A cached graph is used only if its
sha256 is one of the digests the server was given (MODELSERVE_ONNX_TRUSTED_SHA256, which the
operator sets from the Model's status); otherwise the verified artifact is converted again, in
this process. The cache only saves the conversion: a cached graph's answers are still checked
against scikit-learn on every load, like a fresh one's.
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
# the boosters' converters (onnxmltools) read the booster through its library's own dump
_LIBRARIES = (
    "scikit-learn",
    "skl2onnx",
    "onnx",
    "onnxruntime",
    "numpy",
    "onnxmltools",
    "xgboost",
    "xgboost-cpu",
    "lightgbm",
)


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


def trusted_digests(setting: str) -> frozenset[str]:
    """The digests of MODELSERVE_ONNX_TRUSTED_SHA256 (comma-separated hex, any case)."""
    return frozenset(
        d.strip().lower().removeprefix("sha256:") for d in setting.split(",") if d.strip()
    )


def read_cached(
    artifact: Path, key: dict[str, Any], trusted: frozenset[str]
) -> tuple[bytes | None, str]:
    """The cached graph for this key and "hit", or None and why not: "miss" (nothing cached)
    or "untrusted" (its sha256 is not one of the trusted digests)."""
    graph, _ = _paths(artifact, key)
    try:
        data = graph.read_bytes()
    except OSError:
        return None, "miss"
    digest = hashlib.sha256(data).hexdigest()
    if digest not in trusted:
        log.info(
            "not using the cached graph %s: its sha256 %s is not a trusted digest "
            "(MODELSERVE_ONNX_TRUSTED_SHA256); converting the verified artifact again",
            graph,
            digest,
        )
        return None, "untrusted"
    return data, "hit"


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
