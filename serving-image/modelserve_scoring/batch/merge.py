"""Merge the parts of a finished run into one output file and one summary, in a fixed order."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelserve_scoring.batch import layout
from modelserve_scoring.batch.plan import read_plan
from modelserve_scoring.batch.runner import APPEND_ROW

_COPY_CHUNK = 1 << 20


class MergeError(Exception):
    """The run cannot be merged (a mini-batch never finished); the message names which."""


@dataclass
class RunSummary:
    """Totals of a whole run, as the operator reports them in the BatchDeployment's status."""

    files: int = 0
    mini_batches_succeeded: int = 0
    mini_batches_failed: int = 0
    rows_scored: int = 0
    output_path: str | None = None
    failed_files: dict[str, str] = field(default_factory=dict)
    threshold_exceeded: bool = False

    def to_json(self) -> dict[str, Any]:
        """The complete summary, written next to the output."""
        return {
            "files": self.files,
            "miniBatchesSucceeded": self.mini_batches_succeeded,
            "miniBatchesFailed": self.mini_batches_failed,
            "rowsScored": self.rows_scored,
            "outputPath": self.output_path,
            "failedFiles": dict(sorted(self.failed_files.items())),
            "thresholdExceeded": self.threshold_exceeded,
        }

    def failure_message(self, error_threshold: int) -> str:
        """Why the run failed, naming the bad files."""
        listed = "; ".join(f"{name}: {why}" for name, why in sorted(self.failed_files.items()))
        return (
            f"{len(self.failed_files)} file(s) failed, more than errorThreshold "
            f"{error_threshold}: {listed}"
        )


def _append_part(out: Any, part: Path, first: bool, expected_sha256: str | None) -> bool:
    """Copy a part, dropping its header unless it is the first; False if the part is empty.

    The bytes are checked against the digest the runner recorded, so a part torn by a
    crashed node fails the merge instead of silently losing rows.
    """
    digest = hashlib.sha256()
    with part.open("rb") as src:
        header = src.readline()
        digest.update(header)
        if header and first:
            out.write(header)
        while chunk := src.read(_COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if expected_sha256 and digest.hexdigest() != expected_sha256:
        raise MergeError(f"{part} does not match the digest its marker recorded; rerun its index")
    return bool(header)


def merge_run(
    run_dir: Path, file_name: str, action: str = APPEND_ROW, error_threshold: int = -1
) -> RunSummary:
    """Aggregate every mini-batch's marker and concatenate the parts in mini-batch order.

    Idempotent: running it again rewrites the same output, so a merge pod that was
    killed can simply be retried.
    """
    plan = read_plan(run_dir)
    missing = [
        n for n in range(plan.mini_batch_count) if not layout.part_marker(run_dir, n).exists()
    ]
    if missing:
        shown = ", ".join(str(n) for n in missing[:20]) + (" …" if len(missing) > 20 else "")
        raise MergeError(
            f"{len(missing)} of {plan.mini_batch_count} mini-batches never finished "
            f"(numbers {shown}); rerun the instances that own them before merging"
        )
    summary = RunSummary(files=len(plan.files))
    markers = [
        layout.read_json(layout.part_marker(run_dir, n)) for n in range(plan.mini_batch_count)
    ]
    for marker in markers:
        summary.rows_scored += marker["rows"]
        summary.failed_files.update(marker["failedFiles"])
        if marker["succeeded"]:
            summary.mini_batches_succeeded += 1
        else:
            summary.mini_batches_failed += 1
    summary.threshold_exceeded = (
        error_threshold >= 0 and len(summary.failed_files) > error_threshold
    )
    if action == APPEND_ROW:
        output = run_dir / file_name
        fd, tmp = tempfile.mkstemp(prefix=f".{file_name}.", dir=run_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                first = True
                for number, marker in enumerate(markers):
                    part = layout.part_csv(run_dir, number)
                    expected = marker.get("partSha256")
                    if part.exists() and _append_part(out, part, first, expected):
                        first = False
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        summary.output_path = str(output)
    layout.write_json(run_dir / layout.MERGED_SUMMARY, summary.to_json(), durable=True)
    return summary
