"""A pytest run that selects no test fails (tests/conftest.py): CI cannot pass on nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_selection_that_matches_no_test_fails_and_says_so():
    selection = ["tests/unit/docs", "-k", "no_test_is_named_like_this"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *selection],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "collected no tests: that is a failure, not a pass" in result.stdout
