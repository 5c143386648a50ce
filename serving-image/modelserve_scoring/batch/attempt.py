"""One try at a mini-batch and what makes it; light on imports, since the merge step uses it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass
class Attempt:
    """One try at a mini-batch: the CSV rows it produced and the files that failed, with why."""

    rows: int = 0
    csv: bytes = b""
    failed_files: dict[str, str] = field(default_factory=dict)


class MiniBatchScorer(Protocol):
    """Scores the files of one mini-batch (paths relative to the input root)."""

    def score(self, input_root: Path, files: tuple[str, ...], with_rows: bool) -> Attempt: ...
