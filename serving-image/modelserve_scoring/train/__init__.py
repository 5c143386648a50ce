"""The trainer: `modelserve-scoring train` fits, evaluates and gates a model from a JSON spec."""

from modelserve_api.gate import Gate, parse_gate
from modelserve_api.training import TrainingSpec

from modelserve_scoring.train.errors import DataError, TrainingError, TrainingSpecError
from modelserve_scoring.train.spec import parse_training_spec

__all__ = [
    "DataError",
    "Gate",
    "TrainingError",
    "TrainingSpec",
    "TrainingSpecError",
    "parse_gate",
    "parse_training_spec",
]
