"""Model runtimes: the code that loads a model and answers predict calls on a batch of rows.

The names below are imported on first use: importing any module of this package (the scoring
script runner, the runtime interface) must not import scikit-learn and its dependencies, which
take most of a server's start-up and which a scoring script may never need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelserve_scoring.runtime.base import ModelRuntime
    from modelserve_scoring.runtime.compile import (
        CompileOptions,
        compile_estimator,
        compile_runtime,
        load_runtime,
    )
    from modelserve_scoring.runtime.sklearn_runtime import SklearnRuntime

_HOMES = {
    "CompileOptions": "compile",
    "ModelRuntime": "base",
    "SklearnRuntime": "sklearn_runtime",
    "compile_estimator": "compile",
    "compile_runtime": "compile",
    "load_runtime": "compile",
}

__all__ = [
    "CompileOptions",
    "ModelRuntime",
    "SklearnRuntime",
    "compile_estimator",
    "compile_runtime",
    "load_runtime",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
