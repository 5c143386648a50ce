"""Where a run keeps its state on the output volume: the file manifest, parts and summaries."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

MANIFEST = "files.json"
PARTS_DIR = "parts"
SUMMARIES_DIR = "summaries"
MERGED_SUMMARY = "summary.json"


def part_csv(run_dir: Path, mini_batch: int) -> Path:
    """Rows scored by one mini-batch (appendRow only)."""
    return run_dir / PARTS_DIR / f"mb-{mini_batch:06d}.csv"


def part_marker(run_dir: Path, mini_batch: int) -> Path:
    """The outcome of one mini-batch; its presence means the mini-batch is finished."""
    return run_dir / PARTS_DIR / f"mb-{mini_batch:06d}.json"


def index_summary(run_dir: Path, index: int) -> Path:
    """What one instance (Job index) did."""
    return run_dir / SUMMARIES_DIR / f"index-{index:03d}.json"


def write_atomically(path: Path, data: bytes, durable: bool = False) -> None:
    """Write to a temporary sibling, then rename: readers see the whole file or none of it.

    Not fsynced unless ``durable``: a killed process cannot tear a renamed file, and a
    crashed node's torn part is caught by the size and digest its marker records.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, value: Any, durable: bool = False) -> None:
    """write_atomically() for a JSON document."""
    write_atomically(path, json.dumps(value, indent=1, sort_keys=True).encode(), durable)


def read_json(path: Path) -> Any:
    """A JSON document written by write_json()."""
    return json.loads(path.read_text())
