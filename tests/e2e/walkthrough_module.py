"""hack/walkthrough.py, the quickstart's own installer, imported as a module by the e2e tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def walkthrough() -> ModuleType:
    """The module: its `install_operator` installs the chart as the quickstart does."""
    spec = importlib.util.spec_from_file_location("walkthrough", REPO / "hack" / "walkthrough.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
