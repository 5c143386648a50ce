"""How the README test reads a README: its ```sh blocks, skips, and the output each promises."""

from __future__ import annotations

from pathlib import Path

import pytest
from readme_blocks import ReadmeFormatError, output_matches, shell_blocks

REPO = Path(__file__).resolve().parents[3]

FENCE = "```"
README = f"""# Title

Text.

{FENCE}sh
echo one
{FENCE}

{FENCE}output
one
{FENCE}

{FENCE}yaml
not: run
{FENCE}

{FENCE}sh skip-test
rm -rf /
{FENCE}

{FENCE}sh
echo two
echo three
{FENCE}
{FENCE}output
two
...
{FENCE}

- a list item

  {FENCE}sh cleanup
  echo nested
  {FENCE}
"""


def test_blocks_come_in_order_with_their_line_skip_flag_and_output():
    blocks = shell_blocks(README)
    assert [b.script for b in blocks] == [
        "echo one\n",
        "rm -rf /\n",
        "echo two\necho three\n",
        "echo nested\n",
    ]
    assert [b.line for b in blocks] == [5, 17, 21, 32]
    assert [b.skipped for b in blocks] == [False, True, False, False]
    assert [b.cleanup for b in blocks] == [False, False, False, True]
    assert [b.expected_output for b in blocks] == ["one\n", None, "two\n...\n", None]


def test_an_output_block_without_a_shell_block_right_before_it_is_refused():
    text = f"{FENCE}sh\necho a\n{FENCE}\n\nSome words.\n\n{FENCE}output\na\n{FENCE}\n"
    with pytest.raises(ReadmeFormatError, match="line 7"):
        shell_blocks(text)
    with pytest.raises(ReadmeFormatError, match="line 1"):
        shell_blocks(f"{FENCE}output\na\n{FENCE}\n")


def test_console_and_untagged_blocks_are_not_run():
    text = f"{FENCE}console\n$ echo a\n{FENCE}\n\n{FENCE}\necho b\n{FENCE}\n"
    assert shell_blocks(text) == []


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("[0, 2]\n", "[0, 2]\n"),
        ("a\nb\n", "\na\nb\n\n"),  # blank lines around do not count
        # kubectl pads columns to the longest name: runs of spaces count as one
        ("NAME   READY\niris   True\n", "NAME READY\niris True\n"),
        ("http://iris....svc/score\n", "http://iris.readme-ab12.svc/score\n"),
        ("iris True ...\n", "iris True 12s\n"),
        ("first\n...\nlast\n", "first\nx\ny\nlast\n"),
        ("first\n...\nlast\n", "first\nlast\n"),
        ("...\nlast\n", "a\nb\nlast\n"),
    ],
)
def test_output_that_matches(expected: str, actual: str):
    assert output_matches(expected, actual)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("[0, 2]\n", "[0, 1]\n"),
        ("a\n", "a\nb\n"),  # a line more than promised
        ("a\nb\n", "a\n"),  # a line less
        ("iris True ...\n", "iris False 12s\n"),
        ("first\n...\nlast\n", "first\nx\n"),
        # an ellipsis inside a line never spans lines
        ("a...b\n", "a\nb\n"),
    ],
)
def test_output_that_does_not_match(expected: str, actual: str):
    assert not output_matches(expected, actual)


def example_readmes() -> list[Path]:
    return [REPO / "examples" / "README.md", *sorted((REPO / "examples").glob("*/README.md"))]


@pytest.mark.parametrize("readme", example_readmes(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_example_readme_follows_the_convention(readme: Path):
    blocks = shell_blocks(readme.read_text())
    run = [b for b in blocks if not b.skipped]
    assert run, f"{readme} has no ```sh block the test would run"
    # Each README promises at least one result the test can check.
    assert any(b.expected_output for b in run), f"{readme} shows no ```output block"
    text = readme.read_text()
    for block in blocks:
        if block.skipped:
            # The reason a block is not run stands in the README, next to it.
            assert "not run by the readme test" in text.lower(), f"{readme}:{block.line}"
