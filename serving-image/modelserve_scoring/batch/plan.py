"""The file list of a run, fixed once on the output volume, and its split into mini-batches."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from modelserve_scoring.batch import layout


class PlanError(Exception):
    """The input cannot be planned (no volume, bad glob, a manifest of another run)."""


@dataclass(frozen=True)
class RunPlan:
    """The sorted input files (relative to the input root) and the mini-batch size."""

    files: tuple[str, ...]
    mini_batch_size: int

    @property
    def mini_batch_count(self) -> int:
        """Number of mini-batches over all instances."""
        return -(-len(self.files) // self.mini_batch_size)

    def mini_batch(self, number: int) -> tuple[str, ...]:
        """The files of mini-batch ``number`` (0-based)."""
        start = number * self.mini_batch_size
        return self.files[start : start + self.mini_batch_size]

    def shard(self, index: int, count: int) -> list[int]:
        """Mini-batch numbers instance ``index`` of ``count`` scores.

        Mini-batches are numbered over the whole sorted file list, whatever the
        instance count, so the merged output comes out in the same order for 1 or N.
        """
        return list(range(index, self.mini_batch_count, count))


def list_input_files(input_root: Path, pattern: str) -> list[str]:
    """Files under input_root matching the glob, as sorted POSIX paths relative to it."""
    if not input_root.is_dir():
        raise PlanError(f"input directory {input_root} does not exist")
    if pattern.startswith("/") or ".." in Path(pattern).parts:
        raise PlanError(f"input glob {pattern!r} must be relative, without '..'")
    found = {p.relative_to(input_root).as_posix() for p in input_root.glob(pattern) if p.is_file()}
    return sorted(found)


def fix_plan(run_dir: Path, input_root: Path, pattern: str, mini_batch_size: int) -> RunPlan:
    """The run's plan: read it if an instance already fixed it, else list the files and fix it.

    Every instance, and every retry of one, must split the same list; files that
    appear on the volume mid-run would otherwise shift mini-batches between instances.
    The first writer wins via a hard link, which fails if the name already exists.
    """
    manifest = run_dir / layout.MANIFEST
    if not manifest.exists():
        files = list_input_files(input_root, pattern)
        document = {"glob": pattern, "miniBatchSize": mini_batch_size, "files": files}
        run_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".files.", dir=run_dir)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(document, out)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, manifest)
            except OSError as error:
                if error.errno != errno.EEXIST:
                    raise
        finally:
            os.unlink(tmp)
    return read_plan(run_dir, expected_mini_batch_size=mini_batch_size)


def read_plan(run_dir: Path, expected_mini_batch_size: int | None = None) -> RunPlan:
    """The plan fixed by fix_plan()."""
    manifest = run_dir / layout.MANIFEST
    try:
        document = layout.read_json(manifest)
    except FileNotFoundError:
        raise PlanError(f"{manifest} does not exist: no instance of this run has started") from None
    size = int(document["miniBatchSize"])
    if expected_mini_batch_size is not None and size != expected_mini_batch_size:
        raise PlanError(
            f"{manifest} was fixed with miniBatchSize {size}, not {expected_mini_batch_size}; "
            "use a new output directory for a run with other settings"
        )
    return RunPlan(files=tuple(document["files"]), mini_batch_size=size)
