"""Model runtimes: the code that loads a model and answers predict calls on a batch of rows."""

from modelserve_scoring.runtime.base import ModelRuntime
from modelserve_scoring.runtime.compile import (
    CompileOptions,
    compile_estimator,
    compile_runtime,
    load_runtime,
)
from modelserve_scoring.runtime.sklearn_runtime import SklearnRuntime

__all__ = [
    "CompileOptions",
    "ModelRuntime",
    "SklearnRuntime",
    "compile_estimator",
    "compile_runtime",
    "load_runtime",
]
