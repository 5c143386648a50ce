"""One instance of a batch run: its shard of mini-batches, scored with retries and a timeout."""

from __future__ import annotations

import hashlib
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelserve_scoring.batch import layout
from modelserve_scoring.batch.attempt import Attempt, MiniBatchScorer
from modelserve_scoring.batch.plan import RunPlan, fix_plan
from modelserve_scoring.batch.stop import StopRequest, Terminated

log = logging.getLogger(__name__)

APPEND_ROW = "appendRow"
SUMMARY_ONLY = "summaryOnly"
#: how often the scoring loop looks whether SIGTERM arrived
_STOP_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class RunnerSettings:
    """Where the files are, where results go, and how the work is split and judged."""

    input_root: Path
    glob: str
    run_dir: Path
    action: str = APPEND_ROW
    mini_batch_size: int = 10
    instance_index: int = 0
    instance_count: int = 1
    max_concurrency: int = 1
    max_retries: int = 3
    retry_timeout_seconds: float = 300.0
    error_threshold: int = -1
    #: after SIGTERM, how long mini-batches in flight may take to finish and be written
    stop_grace_seconds: float = 10.0

    def __post_init__(self) -> None:
        problems = []
        if self.action not in (APPEND_ROW, SUMMARY_ONLY):
            problems.append(f"action must be {APPEND_ROW} or {SUMMARY_ONLY}, not {self.action!r}")
        if self.mini_batch_size < 1:
            problems.append(f"mini_batch_size must be at least 1, not {self.mini_batch_size}")
        if self.instance_count < 1:
            problems.append(f"instance_count must be at least 1, not {self.instance_count}")
        if not 0 <= self.instance_index < self.instance_count:
            problems.append(
                f"instance_index must be in [0, {self.instance_count}), not {self.instance_index}"
            )
        if self.max_concurrency < 1:
            problems.append(f"max_concurrency must be at least 1, not {self.max_concurrency}")
        if self.max_retries < 0:
            problems.append(f"max_retries must be 0 or more, not {self.max_retries}")
        if self.retry_timeout_seconds <= 0:
            problems.append(
                f"retry_timeout_seconds must be positive, not {self.retry_timeout_seconds}"
            )
        if self.error_threshold < -1:
            problems.append(f"error_threshold must be -1 or more, not {self.error_threshold}")
        if self.stop_grace_seconds < 0:
            problems.append(f"stop_grace_seconds must be 0 or more, not {self.stop_grace_seconds}")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass
class IndexSummary:
    """What one instance did; written to summaries/ and, compacted, as its termination message."""

    index: int
    files: int = 0
    mini_batches: int = 0
    mini_batches_succeeded: int = 0
    mini_batches_failed: int = 0
    mini_batches_skipped: int = 0
    rows_scored: int = 0
    failed_files: dict[str, str] | None = None
    threshold_exceeded: bool = False

    def to_json(self) -> dict[str, Any]:
        """The summary as written to the volume."""
        return {
            "index": self.index,
            "files": self.files,
            "miniBatches": self.mini_batches,
            "miniBatchesSucceeded": self.mini_batches_succeeded,
            "miniBatchesFailed": self.mini_batches_failed,
            "miniBatchesAlreadyDone": self.mini_batches_skipped,
            "rowsScored": self.rows_scored,
            "failedFiles": dict(sorted((self.failed_files or {}).items())),
            "thresholdExceeded": self.threshold_exceeded,
        }


def _threshold_exceeded(failed: int, threshold: int) -> bool:
    return threshold >= 0 and failed > threshold


class BatchRunner:
    """Scores this instance's mini-batches; a finished mini-batch is never scored twice."""

    def __init__(
        self, settings: RunnerSettings, scorer: MiniBatchScorer, stop: StopRequest | None = None
    ) -> None:
        self.settings = settings
        self.scorer = scorer
        self.stop = stop or StopRequest()

    def run(self) -> IndexSummary:
        """Score every mini-batch of this shard that has no finished marker yet; raises
        Terminated after SIGTERM (the index summary is then left to the next try)."""
        s = self.settings
        plan = fix_plan(s.run_dir, s.input_root, s.glob, s.mini_batch_size)
        mine = plan.shard(s.instance_index, s.instance_count)
        summary = IndexSummary(index=s.instance_index, mini_batches=len(mine), failed_files={})
        todo = []
        for number in mine:
            summary.files += len(plan.mini_batch(number))
            marker = layout.part_marker(s.run_dir, number)
            if marker.exists() and self._part_intact(number, marker):
                # Finished by an earlier try of this index (killed after it): count, skip.
                self._count(summary, layout.read_json(marker))
                summary.mini_batches_skipped += 1
            else:
                todo.append(number)
        log.info(
            "instance %d/%d: %d mini-batches of %d files, %d already done",
            s.instance_index,
            s.instance_count,
            len(mine),
            s.mini_batch_size,
            summary.mini_batches_skipped,
        )
        if not _threshold_exceeded(len(summary.failed_files or {}), s.error_threshold):
            with self.stop.deferred():
                self._score(plan, todo, summary)
        if self.stop.requested:
            log.warning(
                "stopped by SIGTERM: %d of %d mini-batches of this instance are written; "
                "the next try scores the rest",
                summary.mini_batches_succeeded + summary.mini_batches_failed,
                summary.mini_batches,
            )
            raise Terminated()
        summary.threshold_exceeded = _threshold_exceeded(
            len(summary.failed_files or {}), s.error_threshold
        )
        layout.write_json(layout.index_summary(s.run_dir, s.instance_index), summary.to_json())
        return summary

    def _part_intact(self, number: int, marker: Path) -> bool:
        """Whether a finished mini-batch's part is whole; a torn one is scored again."""
        expected = layout.read_json(marker).get("partBytes", 0)
        part = layout.part_csv(self.settings.run_dir, number)
        actual = part.stat().st_size if part.exists() else 0
        if actual == expected:
            return True
        log.warning(
            "part of mini-batch %d is torn (%d of %d bytes); redoing it", number, actual, expected
        )
        marker.unlink()
        return False

    def _count(self, summary: IndexSummary, marker: dict[str, Any]) -> None:
        if marker["succeeded"]:
            summary.mini_batches_succeeded += 1
        else:
            summary.mini_batches_failed += 1
        summary.rows_scored += marker["rows"]
        assert summary.failed_files is not None
        summary.failed_files.update(marker["failedFiles"])

    def _score(self, plan: RunPlan, todo: list[int], summary: IndexSummary) -> None:
        """Run up to max_concurrency attempts at once, each in its own thread with a deadline.

        A thread that overruns its deadline cannot be stopped from outside; it is
        abandoned (a daemon) and whatever it returns later is ignored, so a stuck
        mini-batch costs a thread, never a duplicated or half-written part. After SIGTERM no
        attempt starts or retries; those that finish within stop_grace_seconds are written,
        the rest are abandoned unwritten.
        """
        s = self.settings
        pending: list[tuple[int, int]] = [(number, 0) for number in reversed(todo)]
        inflight: dict[int, tuple[int, int, float]] = {}
        results: queue.Queue[tuple[int, Attempt | BaseException]] = queue.Queue()
        tokens = itertools.count(1)

        def start_attempts() -> None:
            while pending and len(inflight) < s.max_concurrency and not self.stop.requested:
                number, tries = pending.pop()
                token = next(tokens)
                inflight[token] = (number, tries, time.monotonic() + s.retry_timeout_seconds)
                threading.Thread(
                    target=self._attempt,
                    args=(token, plan.mini_batch(number), results),
                    name=f"mini-batch-{number}",
                    daemon=True,
                ).start()

        stop_by = float("inf")
        while pending or inflight:
            if self.stop.requested:
                if stop_by == float("inf"):
                    stop_by = time.monotonic() + s.stop_grace_seconds
                    pending.clear()
                if not inflight or time.monotonic() >= stop_by:
                    return
            start_attempts()
            nearest = min(deadline for _, _, deadline in inflight.values())
            wait = min(nearest - time.monotonic(), _STOP_POLL_SECONDS)
            try:
                done, outcome = results.get(timeout=max(0.0, wait))
            except queue.Empty:
                now = time.monotonic()
                expired = [t for t, (_, _, deadline) in inflight.items() if deadline <= now]
                finished = [
                    (t, TimeoutError(f"timed out after {s.retry_timeout_seconds:g} s"))
                    for t in expired
                ]
            else:
                finished = [(done, outcome)]
            to_write = []
            for done, outcome in finished:
                if done not in inflight:
                    continue  # a late answer from an attempt that already timed out
                number, tries, _ = inflight.pop(done)
                attempt = self._as_attempt(outcome, plan.mini_batch(number))
                if attempt.failed_files and self.stop.requested:
                    continue  # no retry now, and no failure on record: the next try redoes it
                if attempt.failed_files and tries < s.max_retries:
                    log.warning(
                        "mini-batch %d try %d failed (%s); retrying",
                        number,
                        tries + 1,
                        "; ".join(f"{f}: {why}" for f, why in attempt.failed_files.items()),
                    )
                    pending.append((number, tries + 1))
                else:
                    to_write.append((number, attempt, tries + 1))
            # Keep the scorer busy reading the next files while this thread writes.
            start_attempts()
            for number, attempt, tries in to_write:
                marker = self._finish(number, plan.mini_batch(number), attempt, tries)
                self._count(summary, marker)
                if _threshold_exceeded(len(summary.failed_files or {}), s.error_threshold):
                    # Attempts still in flight are dropped unwritten; a rerun would redo them.
                    return

    def _attempt(
        self,
        token: int,
        files: tuple[str, ...],
        results: queue.Queue[tuple[int, Attempt | BaseException]],
    ) -> None:
        try:
            attempt = self.scorer.score(
                self.settings.input_root, files, self.settings.action == APPEND_ROW
            )
        except BaseException as error:  # reported to the loop, which decides on retries
            results.put((token, error))
        else:
            results.put((token, attempt))

    @staticmethod
    def _as_attempt(outcome: Attempt | BaseException, files: tuple[str, ...]) -> Attempt:
        if isinstance(outcome, Attempt):
            return outcome
        reason = str(outcome) if isinstance(outcome, TimeoutError) else repr(outcome)
        return Attempt(failed_files={name: reason for name in files})

    def _finish(
        self, number: int, files: tuple[str, ...], attempt: Attempt, tries: int
    ) -> dict[str, Any]:
        """Write the part, then its marker: a marker always names a complete part."""
        run_dir = self.settings.run_dir
        if self.settings.action == APPEND_ROW:
            layout.write_atomically(layout.part_csv(run_dir, number), attempt.csv)
        marker = {
            "miniBatch": number,
            "index": self.settings.instance_index,
            "files": list(files),
            "rows": attempt.rows,
            "failedFiles": attempt.failed_files,
            "succeeded": not attempt.failed_files,
            "tries": tries,
            "partBytes": len(attempt.csv),
            "partSha256": hashlib.sha256(attempt.csv).hexdigest(),
        }
        layout.write_json(layout.part_marker(run_dir, number), marker)
        if attempt.failed_files:
            log.error(
                "mini-batch %d failed after %d tries: %s",
                number,
                tries,
                "; ".join(f"{f}: {why}" for f, why in attempt.failed_files.items()),
            )
        return marker
