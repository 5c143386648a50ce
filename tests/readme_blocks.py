"""The shell blocks of a README, and the output each promises, for the test that runs them.

The convention (examples/README.md, "How the READMEs are tested"):
- a fenced block whose info string starts with `sh` is run, in the order of the file;
- `sh skip-test` is shown but not run (the README says why next to it);
- `sh cleanup` is run last, and also when an earlier block failed;
- an `output` block right after a `sh` block is what that block prints on stdout:
  a line that is only `...` stands for any number of lines, `...` inside a line for
  any text, and runs of spaces count as one (kubectl's columns widen with the names).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

SHELL = "sh"
OUTPUT = "output"
SKIP = "skip-test"
CLEANUP = "cleanup"
ELLIPSIS = "..."


@dataclass(frozen=True)
class ShellBlock:
    """One ```sh block: where it starts, its text, and the output it promises (if shown)."""

    line: int  # 1-based line of the opening fence
    script: str
    skipped: bool = False
    cleanup: bool = False
    expected_output: str | None = None


class ReadmeFormatError(ValueError):
    """A README breaks the convention (an output block with no shell block before it)."""


def shell_blocks(markdown: str) -> list[ShellBlock]:
    """The ```sh blocks of a Markdown document in order, each with its ```output block."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    blocks: list[ShellBlock] = []
    previous_was_shell = False
    for token in tokens:
        if token.type != "fence":
            # Anything between a shell block and an output block separates them.
            previous_was_shell = False
            continue
        words = token.info.split()
        language = words[0] if words else ""
        line = token.map[0] + 1 if token.map else 0
        if language == SHELL:
            flags = words[1:]
            blocks.append(ShellBlock(line, token.content, SKIP in flags, CLEANUP in flags))
            previous_was_shell = True
            continue
        if language == OUTPUT:
            if not previous_was_shell:
                raise ReadmeFormatError(
                    f"line {line}: an ```output block must come right after a ```sh block"
                )
            blocks[-1] = dataclasses.replace(blocks[-1], expected_output=token.content)
        previous_was_shell = False
    return blocks


def _normalise(text: str) -> list[str]:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def _pattern(expected: str) -> re.Pattern[str]:
    parts = []
    for line in _normalise(expected):
        if line == ELLIPSIS:
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            pieces = (re.escape(piece) for piece in line.split(ELLIPSIS))
            parts.append(r"[^\n]*?".join(pieces) + r"\n")
    return re.compile("".join(parts))


def output_matches(expected: str, actual: str) -> bool:
    """Whether `actual` (what a block printed) is what the ```output block promises."""
    text = "".join(line + "\n" for line in _normalise(actual))
    return _pattern(expected).fullmatch(text) is not None
