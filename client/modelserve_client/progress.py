"""Progress reports of long operations (uploads, waiting for Ready) on a terminal or nowhere."""

from __future__ import annotations

import sys
from typing import Protocol, TextIO


class Progress(Protocol):
    """Where long operations say what they are doing."""

    def step(self, message: str) -> None:
        """A new stage or a change worth a line of its own."""

    def transfer(self, done: int, total: int, what: str) -> None:
        """Bytes sent so far out of `total`."""


def human_bytes(size: int) -> str:
    """1536 -> '1.5 KiB': sizes as people read them."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class ConsoleProgress:
    """Lines on stderr; a transfer redraws one line on a terminal and prints quarters elsewhere."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._last_quarter = -1

    def step(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    def transfer(self, done: int, total: int, what: str) -> None:
        percent = 100 if total == 0 else done * 100 // total
        line = f"{what}: {percent:3d}% ({human_bytes(done)} of {human_bytes(total)})"
        if self.stream.isatty():
            end = "\n" if done >= total else ""
            print(f"\r{line}", end=end, file=self.stream, flush=True)
            return
        # Logs and CI: a line per quarter instead of hundreds of redraws.
        quarter = percent // 25
        if quarter != self._last_quarter:
            self._last_quarter = quarter
            print(line, file=self.stream, flush=True)
        if done >= total:
            self._last_quarter = -1


class SilentProgress:
    """Reports nothing (for code that prints its own)."""

    def step(self, message: str) -> None:
        pass

    def transfer(self, done: int, total: int, what: str) -> None:
        pass
