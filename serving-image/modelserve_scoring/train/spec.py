"""The trainer's reading of a training spec: the contract's strict mode, then the estimator's
own check of its parameters (names and value ranges), before any data is read."""

from __future__ import annotations

from typing import Any

from modelserve_api.common import SpecError
from modelserve_api.training import TrainingSpec
from modelserve_api.training import parse_training_spec as parse_contract

from modelserve_scoring.train.errors import TrainingSpecError


def parse_training_spec(document: dict[str, Any] | str) -> TrainingSpec:
    """Validate a training spec (a mapping or JSON text); TrainingSpecError names each field.

    Unknown fields are refused: a typo in a spec must not silently train something else.
    """
    try:
        spec = parse_contract(document, unknown="forbid")
    except SpecError as error:
        raise TrainingSpecError(error.problems) from None
    from modelserve_scoring.train.estimators import build_estimator, search_space

    model = build_estimator(spec)
    if spec.search is not None:
        search_space(model, spec.search, spec.estimator)
    return spec
