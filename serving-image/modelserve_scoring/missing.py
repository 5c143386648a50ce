"""Missing values in requests (JSON null, NaN): telling a model's refusal of them from other
refusals, and the 400 that names where the first one was sent.

Boosters (XGBoost, LightGBM) and some scikit-learn estimators route missing values themselves;
most scikit-learn estimators raise ValueError ("Input X contains NaN"). Both runtimes answer
alike: ONNX Runtime hands rows with NaN to scikit-learn unless compile.py checked that the graph
routes them as the library does (runtime/onnx.py)."""

from __future__ import annotations

import numpy as np

from modelserve_scoring.codecs import Inference, ModelShape, input_labels

#: what a model that can take no missing values says about them (scikit-learn's wording)
_SIGNS = ("nan", "missing")


def first_missing(rows: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first missing cell of 2-D rows (NaN, or None among objects)."""
    if rows.ndim != 2:
        return None
    if rows.dtype.kind == "f":
        cells = np.isnan(rows)
    elif rows.dtype.kind == "O":
        cells = np.frompyfunc(lambda v: v is None or (isinstance(v, float) and v != v), 1, 1)(
            rows
        ).astype(bool)
    else:
        return None
    if not cells.any():
        return None
    row, column = np.unravel_index(int(np.argmax(cells)), cells.shape)
    return int(row), int(column)


def refuses_missing(rows: np.ndarray, exc: Exception) -> bool:
    """Whether the model's exception on these rows is its refusal of their missing values."""
    text = str(exc).lower()
    return any(sign in text for sign in _SIGNS) and first_missing(rows) is not None


def refusal_message(inference: Inference, shape: ModelShape, model_message: str) -> str:
    """The 400's text: which input, row and column is missing, and what to do instead."""
    cell = first_missing(inference.rows)
    where = "the input"
    if cell is not None:
        row, column = cell
        inputs = input_labels(inference, shape)
        if len(inputs) > 1:  # one tensor per feature: the tensor names the column
            where = f"{inputs[column]} row {row}"
        else:
            feature = f" ({shape.feature_names[column]!r})" if shape.feature_names else ""
            where = f"{inputs[0] if inputs else 'the input'} row {row}, column {column}{feature}"
    said = model_message.strip().splitlines()[0] if model_message.strip() else ""
    return (
        f"{where} is a missing value (null or NaN), and this model does not accept missing "
        "values: send a number in every cell, or serve a model that handles them (XGBoost, "
        "LightGBM, scikit-learn's HistGradientBoosting, or a Pipeline with an imputer)"
        + (f". The model said: {said}" if said else "")
    )
