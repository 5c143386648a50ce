"""Request parsing and response encoding for the three protocols (v2, /score, KServe v1)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelserve_scoring.errors import BadRequest

PREDICT = "predict"
PREDICT_PROBA = "predict_proba"

# v2 datatypes we accept on input, mapped to the numpy type the data is read as
V2_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}
_NUMERIC_KINDS = frozenset("biuf")
_FP64 = V2_DTYPES["FP64"]
_DUMP_OPTS = orjson.OPT_SERIALIZE_NUMPY


@dataclass(slots=True)
class ModelShape:
    """What request validation needs to know about the served model."""

    n_features: int | None
    feature_names: list[str] | None

    @property
    def accepts_strings(self) -> bool:
        """A model fit on a DataFrame may have string columns; others take numbers only."""
        return self.feature_names is not None


@dataclass(slots=True)
class Inference:
    """A decoded request, whatever its protocol: the rows and which outputs were asked for."""

    rows: np.ndarray
    want_predict: bool = True
    want_proba: bool = False
    #: a v2 request's own "id"
    request_id: str | None = None
    #: gRPC: the inputs came as raw_input_contents, so the outputs go back as raw bytes too
    raw: bool = False
    #: where the rows came from, for a refusal to name: the field of /score and v1 rows, or
    #: the names of the v2 input tensors in request order (see input_labels)
    inputs: tuple[str, ...] = ()
    #: the rows came in v2 input tensors
    tensors: bool = False


def loads(body: bytes) -> Any:
    """Parse JSON, naming the problem on failure."""
    if not body:
        raise BadRequest("request body is empty: send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None


def dumps(obj: Any) -> bytes:
    """Serialise a response (numpy arrays included)."""
    return orjson.dumps(obj, option=_DUMP_OPTS)


def _first(data: Any, wanted: Callable[[Any], bool]) -> Any:
    """The first leaf of nested lists for which `wanted(leaf)` holds, else None."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif wanted(item):
            return item
    return None


def _is_not_number(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int | float)


def _is_not_number_or_null(value: Any) -> bool:
    return value is not None and _is_not_number(value)


def _has_null(data: Any) -> bool:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif item is None:
            return True
    return False


#: the exact types of the leaves with_missing takes (bool, an int subclass, is not one)
_NUMBER_OR_NULL = frozenset({int, float, type(None)})


def with_missing(raw: list, arr: np.ndarray) -> np.ndarray | None:
    """Numbers and nulls (JSON has no NaN) as float64, each null a NaN: a booster's "missing".

    `arr` is numpy's own reading of `raw`, an object array: only a request numpy could not read
    as numbers pays for this. None when a leaf is not a number or null (a string, a boolean,
    a list where rows are ragged)."""
    if not set(map(type, arr.ravel())) <= _NUMBER_OR_NULL:
        return None
    try:
        return np.array(raw, dtype=np.float64)
    except (ValueError, TypeError):  # a null where a row should be
        return None


def _check_columns(arr: np.ndarray, field: str, shape: ModelShape) -> np.ndarray:
    if arr.ndim != 2:
        raise BadRequest(f"{field} must be a list of rows (a 2-D array), got a {arr.ndim}-D array")
    if arr.shape[0] == 0:
        raise BadRequest(f"{field} is an empty batch: send at least one row")
    if shape.n_features is not None and arr.shape[1] != shape.n_features:
        raise BadRequest(
            f"{field}: expected {shape.n_features} features per row, got {arr.shape[1]}"
        )
    return arr


def _as_numeric_or_object(arr: np.ndarray, raw: Any, field: str, shape: ModelShape) -> np.ndarray:
    kind = arr.dtype.kind
    if kind in _NUMERIC_KINDS:
        return arr if arr.dtype == np.float64 else arr.astype(np.float64)
    if kind == "O":
        # nulls among numbers are missing values (NaN), whatever the model: a model fit on a
        # DataFrame of numbers (an XGBoost one, say) refuses object columns
        filled = with_missing(raw, arr)
        if filled is not None:
            return filled
    if shape.accepts_strings and kind in "UO":
        return arr.astype(object)
    bad = _first(raw, _is_not_number_or_null)
    raise BadRequest(f"{field} must hold numbers only; found {bad!r} ({type(bad).__name__})")


def rows_from_json(data: Any, field: str, shape: ModelShape) -> np.ndarray:
    """A JSON list of rows as a 2-D float64 (or object) array, validated against the model."""
    if not isinstance(data, list):
        raise BadRequest(f"{field} must be a list of rows, got {type(data).__name__}")
    if not data:
        raise BadRequest(f"{field} is an empty batch: send at least one row")
    try:
        arr = np.array(data)
    except ValueError:
        raise BadRequest(f"{field}: rows must all have the same number of features") from None
    if arr.ndim == 1 and arr.dtype.kind != "O":
        raise BadRequest(f"{field} must be a list of rows (a 2-D array), got a flat list")
    if arr.dtype.kind == "O" and not shape.accepts_strings:
        # numpy makes object arrays out of ragged rows or nulls
        lengths = {len(r) if isinstance(r, list) else -1 for r in data}
        if len(lengths) > 1 or -1 in lengths:
            raise BadRequest(f"{field}: rows must all be lists with the same number of features")
    arr = _as_numeric_or_object(arr, data, field, shape)
    return _check_columns(arr, field, shape)


def bool_flag(value: Any, field: str) -> bool:
    """A boolean given as true/false or as text ("true", "0", ...)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no", ""):
        return value.lower() in ("true", "1", "yes")
    raise BadRequest(f"{field} must be true or false, got {value!r}")


def query_flag(query_string: bytes, name: str) -> bool:
    """A boolean ?name=... query parameter (absent = false)."""
    if not query_string:
        return False
    for part in query_string.split(b"&"):
        key, _, value = part.partition(b"=")
        if key.decode("latin-1") == name:
            return bool_flag(value.decode("latin-1") or "true", f"query parameter {name}")
    return False


# --- /score (managed-endpoint shape) -------------------------------------------------------


def parse_score(payload: Any, shape: ModelShape, query_string: bytes) -> tuple[np.ndarray, bool]:
    """`{"data": [[...]]}` or `{"input_data": {"columns", "index", "data"}}` → rows, want_proba."""
    if not isinstance(payload, dict):
        raise BadRequest('body must be a JSON object with "data" or "input_data"')
    want_proba = query_flag(query_string, "probabilities")
    if "probabilities" in payload:
        want_proba = bool_flag(payload["probabilities"], "probabilities")
    if "data" in payload:
        return rows_from_json(payload["data"], "data", shape), want_proba
    if "input_data" not in payload:
        raise BadRequest('body must have "data" or "input_data"')
    inp = payload["input_data"]
    if isinstance(inp, list):
        return rows_from_json(inp, "input_data", shape), want_proba
    if not isinstance(inp, dict) or "data" not in inp:
        raise BadRequest('input_data must be an object with "data" (and optional "columns")')
    rows = rows_from_json(inp["data"], "input_data.data", ModelShape(None, shape.feature_names))
    columns = inp.get("columns")
    if columns is not None:
        rows = _order_columns(rows, columns, shape)
    return _check_columns(rows, "input_data.data", shape), want_proba


def _order_columns(rows: np.ndarray, columns: Any, shape: ModelShape) -> np.ndarray:
    if not isinstance(columns, list) or not all(isinstance(c, str | int) for c in columns):
        raise BadRequest("input_data.columns must be a list of column names")
    if len(columns) != rows.shape[1]:
        raise BadRequest(
            f"input_data.columns names {len(columns)} columns but rows have {rows.shape[1]}"
        )
    if shape.feature_names is None:
        return rows
    position = {str(c): i for i, c in enumerate(columns)}
    missing = [n for n in shape.feature_names if n not in position]
    if missing:
        raise BadRequest(f"input_data.columns lacks feature(s) {missing}")
    order = [position[n] for n in shape.feature_names]
    return rows if order == list(range(rows.shape[1])) else rows[:, order]


def encode_score(preds: np.ndarray, proba: np.ndarray | None, classes: list | None) -> bytes:
    """A JSON list of predictions, or an object with probabilities when asked for."""
    if proba is None:
        return dumps(_jsonable(preds))
    return dumps({"predictions": _jsonable(preds), "probabilities": proba, "classes": classes})


# --- KServe v1 -------------------------------------------------------------------------------


def parse_v1(payload: Any, shape: ModelShape, query_string: bytes) -> tuple[np.ndarray, bool]:
    """`{"instances": [[...]]}` (or `"inputs"`) → rows, want_proba."""
    if not isinstance(payload, dict):
        raise BadRequest('body must be a JSON object with "instances"')
    want_proba = query_flag(query_string, "probabilities")
    if "probabilities" in payload:
        want_proba = bool_flag(payload["probabilities"], "probabilities")
    key = "instances" if "instances" in payload else "inputs" if "inputs" in payload else None
    if key is None:
        raise BadRequest('body must have "instances" (a list of rows)')
    return rows_from_json(payload[key], key, shape), want_proba


def encode_v1(preds: np.ndarray, proba: np.ndarray | None, classes: list | None) -> bytes:
    """`{"predictions": [...]}` plus probabilities and classes when asked for."""
    if proba is None:
        return dumps({"predictions": _jsonable(preds)})
    return dumps({"predictions": _jsonable(preds), "probabilities": proba, "classes": classes})


# --- Open Inference Protocol v2 ----------------------------------------------------------------

#: most dimensions of an input tensor (rows and features, or rows only, with room to spare)
_MAX_DIMENSIONS = 8
#: Inference-Header-Content-Length longer than this cannot be an offset into any body we take
_MAX_HEADER_LENGTH_DIGITS = 18


def tensor_dims(shape: Any, field: str) -> list[int]:
    """A tensor's shape, checked: a short list of non-negative integers."""
    # a loop, not all() over a generator: three frames fewer on every request (callgrind)
    if type(shape) is not list:
        raise BadRequest(f"{field}.shape must be a list of non-negative integers")
    for d in shape:
        # type(), not isinstance(): a JSON true is a bool, an int subclass, and no dimension
        if type(d) is not int or d < 0:
            raise BadRequest(f"{field}.shape must be a list of non-negative integers")
    if len(shape) > _MAX_DIMENSIONS:
        raise BadRequest(f"{field}.shape has {len(shape)} dimensions; at most 2 are used")
    return shape


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _out_of_range(arr: np.ndarray, low: float, high: float) -> Any | None:
    """The first value of arr outside [low, high], else None."""
    outside = (arr < low) | (arr > high)
    if not outside.any():
        return None
    value = arr.ravel()[int(np.argmax(outside.ravel()))]
    return value.item() if isinstance(value, np.generic) else value


def _range_text(np_type: np.dtype) -> str:
    if np_type.kind == "f":
        return f"-{np.finfo(np_type).max:g} to {np.finfo(np_type).max:g}"
    info = np.iinfo(np_type)
    return f"{info.min} to {info.max}"


def _check_datatype(
    arr: np.ndarray,
    raw: list,
    datatype: str,
    np_type: np.dtype,
    where: object,
    may_hold_bools: bool,
) -> None:
    """Refuse data whose kind or range the declared datatype cannot hold (as Triton does)."""
    kind = arr.dtype.kind
    floats = np_type.kind == "f"
    if kind == "O" and not floats and _has_null(raw):
        raise BadRequest(
            f"{where}: {datatype} tensors cannot hold missing values (null); send missing "
            "values as null in an FP32 or FP64 tensor"
        )
    if np_type.kind == "b":
        if kind != "b":
            bad = _first(raw, lambda v: not isinstance(v, bool))
            raise BadRequest(f"{where}: {bad!r} is not a BOOL value; BOOL data are true or false")
        return
    if kind not in _NUMERIC_KINDS or kind == "b" or (may_hold_bools and _first(raw, _is_bool)):
        bad = _first(raw, _is_not_number_or_null if floats else _is_not_number)
        if bad is None:  # numbers and nulls that with_missing could not read: a null row
            raise BadRequest(f"{where}: null stands for one missing number, not for a row")
        raise BadRequest(
            f"{where}: {bad!r} ({type(bad).__name__}) is not a {datatype} value; "
            f"{datatype} data are numbers"
        )
    if np_type.kind in "iu" and kind == "f":
        fractional = arr != np.floor(arr)
        if fractional.any():
            value = arr.ravel()[int(np.argmax(fractional.ravel()))].item()
            raise BadRequest(
                f"{where}: {value!r} is not a {datatype} value; {datatype} data are "
                "whole numbers (the tensor holds fractional numbers)"
            )
    refuse_out_of_range(arr, datatype, np_type, where)


def refuse_out_of_range(arr: np.ndarray, datatype: str, np_type: np.dtype, where: object) -> None:
    """Refuse an element the declared datatype cannot hold (INT8 data of 300, say)."""
    if np_type.kind in "iu":
        info = np.iinfo(np_type)
        bad = _out_of_range(arr, info.min, info.max)
    elif np_type.kind == "f" and np_type != np.float64:
        # JSON numbers beyond float64 are refused by the JSON parser itself
        limit = float(np.finfo(np_type).max)
        bad = _out_of_range(arr, -limit, limit)
    else:
        bad = None
    if bad is not None:
        raise BadRequest(
            f"{where}: {bad!r} is out of range for {datatype} ({_range_text(np_type)})"
        )


def _check_strings(arr: np.ndarray, raw: list, where: str) -> None:
    if arr.dtype.kind == "U":
        return
    bad = _first(raw, lambda v: not isinstance(v, str))
    if bad is not None:
        raise BadRequest(
            f"{where}: {bad!r} ({type(bad).__name__}) is not a BYTES value; BYTES data are "
            "strings (send numbers in a numeric tensor)"
        )


def tensor_type(datatype: Any, field: str, shape: ModelShape) -> np.dtype | None:
    """The numpy type of a v2 datatype the model takes; None for BYTES (strings)."""
    if not isinstance(datatype, str):  # a JSON list or object cannot even be looked up
        raise BadRequest(f'{field}.datatype must be a string such as "FP64", got {datatype!r}')
    if datatype == "BYTES":
        if not shape.accepts_strings:
            raise BadRequest(f"{field}.datatype BYTES is not accepted: this model takes numbers")
        return None
    if datatype not in V2_DTYPES:
        raise BadRequest(
            f"{field}.datatype {datatype!r} is not supported; use one of "
            f"{', '.join(V2_DTYPES)}" + (" or BYTES" if shape.accepts_strings else "")
        )
    return V2_DTYPES[datatype]


def tensor_size(dims: list[int], field: str) -> int:
    """The number of elements of a shape; an empty tensor is refused."""
    size = math.prod(dims)
    if size == 0:
        raise BadRequest(
            f"{field}.shape {dims} holds no elements (an empty batch): send at least one row"
        )
    return size


def _named(name: Any) -> str:
    return f" (input {name!r})" if isinstance(name, str) else ""


class _DataLabel:
    """How a refusal names a tensor's data (`inputs[0].data (input 'x')`), formatted only if
    one does: building it for every request cost more than the checks it is for."""

    __slots__ = ("field", "name")

    def __init__(self, field: str, name: Any) -> None:
        self.field = field
        self.name = name

    def __str__(self) -> str:
        return f"{self.field}.data{_named(self.name)}"


def _tensor(
    tensor: Any,
    field: str,
    shape: ModelShape,
    binary: memoryview | None,
    offset: int,
    may_hold_bools: bool = True,
) -> tuple[np.ndarray, int]:
    """One input tensor as an array of its declared shape; returns (array, next binary offset)."""
    if not isinstance(tensor, dict):
        raise BadRequest(f"{field} must be an object with name, shape, datatype and data")
    dims = tensor_dims(tensor.get("shape"), field)
    datatype = tensor.get("datatype")
    name = tensor.get("name")
    # the checks are called only when the common case does not hold (a call less each)
    np_type = V2_DTYPES.get(datatype) if type(datatype) is str else None
    if np_type is None:
        np_type = tensor_type(datatype, field, shape)  # BYTES (None), or a refusal
    size = math.prod(dims)
    if size == 0:
        tensor_size(dims, field)  # refuses the empty tensor
    params = tensor.get("parameters") or {}
    if isinstance(params, dict) and "binary_data_size" in params:
        nbytes = params["binary_data_size"]
        if np_type is None or binary is None or not isinstance(nbytes, int):
            raise BadRequest(f"{field}: binary data is only supported for numeric datatypes")
        if offset + nbytes > len(binary) or nbytes != size * np_type.itemsize:
            raise BadRequest(f"{field}.parameters.binary_data_size does not match shape {dims}")
        arr = np.frombuffer(binary[offset : offset + nbytes], dtype=np_type)
        offset += nbytes
        if np_type.kind == "b" and (arr.view(np.uint8) > 1).any():
            raise BadRequest(f"{field}{_named(name)}: BOOL binary data must be bytes 0 or 1")
    else:
        if "data" not in tensor:
            raise BadRequest(f"{field}.data is missing")
        raw = tensor["data"]
        if not isinstance(raw, list):
            raise BadRequest(f"{field}.data must be a list")
        try:
            arr = np.array(raw)
        except ValueError:
            raise BadRequest(f"{field}.data is ragged: nested lists differ in length") from None
        if arr.dtype.kind == "O" and np_type is not None and np_type.kind == "f":
            # nulls in a floating-point tensor are missing values (NaN)
            filled = with_missing(raw, arr)
            arr = arr if filled is None else filled
        if arr.size != size:
            raise BadRequest(f"{field}.data has {arr.size} elements but shape {dims} needs {size}")
        if np_type is _FP64 and arr.dtype.kind in "iuf" and not may_hold_bools:
            pass  # numbers for a float64 tensor: nothing _check_datatype refuses, so not called
        elif np_type is not None:
            _check_datatype(arr, raw, datatype, np_type, _DataLabel(field, name), may_hold_bools)
        else:
            _check_strings(arr, raw, f"{field}.data{_named(name)}")
            arr = arr.astype(object)
    return arr.reshape(dims), offset


def parse_header_length(value: bytes) -> int:
    """The Inference-Header-Content-Length header (binary tensor extension) as a number."""
    if not value.isdigit() or len(value) > _MAX_HEADER_LENGTH_DIGITS:
        raise BadRequest(
            "Inference-Header-Content-Length must be the length in bytes of the JSON part of "
            f"the body, got {value[:40].decode('latin-1')!r}"
        )
    return int(value)


def _may_hold_bools(body: bytes) -> bool:
    """Whether a JSON text may hold `true` or `false`.

    A search for "true" in digits is slow (its letters share the search's filter bits with
    digits): 13 µs for a 64-row body. No v2 key but "parameters" and its like holds an "r" or
    an "f", so a one-letter search, 0.5 µs, rules most bodies out first (python -m timeit).

    find(), not `in`: `bytes in bytes` first asks whether its operand is an integer (a byte
    value), and the TypeError it raises and clears costs about 1,900 instructions a test
    (callgrind, 2026-12-06)."""
    return (body.find(b"r") != -1 and body.find(b"true") != -1) or (
        body.find(b"f") != -1 and body.find(b"false") != -1
    )


def parse_v2(body: bytes, header_length: int | None, shape: ModelShape) -> Inference:
    """A v2 infer body (JSON, or JSON plus binary tensors) → rows and the outputs asked for."""
    binary = None
    if header_length is not None:
        if header_length > len(body):
            raise BadRequest("Inference-Header-Content-Length is larger than the body")
        binary = memoryview(body)[header_length:]
        body = body[:header_length]
    payload = loads(body)
    if not isinstance(payload, dict):
        raise BadRequest('body must be a JSON object with "inputs"')
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest('"inputs" must be a non-empty list of tensors')
    # a scan for JSON booleans (which numpy would read as 0 and 1) only where the text has any
    may_hold_bools = _may_hold_bools(body)
    tensors = []
    names = []
    offset = 0
    for i, tensor in enumerate(inputs):
        arr, offset = _tensor(tensor, f"inputs[{i}]", shape, binary, offset, may_hold_bools)
        name = str(tensor.get("name", ""))
        tensors.append((name, arr))
        names.append(name)
    rows = rows_from_tensors(tensors, shape)
    want_predict, want_proba = _requested_outputs(payload)
    request_id = payload.get("id")
    return Inference(
        rows,
        want_predict,
        want_proba,
        request_id if isinstance(request_id, str) else None,
        inputs=tuple(names),
        tensors=True,
    )


def input_labels(inference: Inference, shape: ModelShape) -> tuple[str, ...]:
    """How a refusal names where each column of the rows came from: one label for all columns
    (a field, or the one tensor of rows), or one per column (the tensor of each feature, in
    the rows' column order). Built only when a refusal needs it."""
    if not inference.tensors:
        return inference.inputs
    names = inference.inputs
    labels = [f"inputs[{i}] (input {name!r})" for i, name in enumerate(names)]
    if len(labels) > 1 and shape.feature_names is not None:
        by_name = dict(zip(names, labels, strict=True))
        return tuple(by_name[n] for n in shape.feature_names)
    return tuple(labels)


def rows_from_tensors(tensors: list[tuple[str, np.ndarray]], shape: ModelShape) -> np.ndarray:
    """The decoded input tensors (name, array) as rows: one tensor of rows, or one column per
    feature (shape [N] or [N, 1]) ordered by feature name; checked against the model."""
    if len(tensors) == 1:
        rows = tensors[0][1]
        if rows.ndim == 1 and shape.n_features == 1:
            rows = rows.reshape(-1, 1)
    else:
        rows = _columns_to_rows(tensors, shape)
    if rows.dtype.kind != "O" and rows.dtype != np.float64:
        rows = rows.astype(np.float64)
    return _check_columns(rows, "inputs[0]" if len(tensors) == 1 else "inputs", shape)


def _columns_to_rows(tensors: list[tuple[str, np.ndarray]], shape: ModelShape) -> np.ndarray:
    columns: list[tuple[str, np.ndarray]] = []
    for i, (name, arr) in enumerate(tensors):
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise BadRequest(
                f"inputs[{i}] must be one column of shape [N] or [N, 1] when "
                "sending one input per feature"
            )
        columns.append((name, arr))
    lengths = {len(a) for _, a in columns}
    if len(lengths) != 1:
        raise BadRequest("inputs: every column must have the same number of rows")
    if shape.feature_names is not None:
        by_name = dict(columns)
        missing = [n for n in shape.feature_names if n not in by_name]
        if missing:
            raise BadRequest(f"inputs lack feature column(s) {missing}")
        columns = [(n, by_name[n]) for n in shape.feature_names]
    arrays = [a for _, a in columns]
    if any(a.dtype.kind == "O" for a in arrays):
        return np.column_stack([a.astype(object) for a in arrays])
    return np.column_stack(arrays).astype(np.float64)


def _requested_outputs(payload: dict) -> tuple[bool, bool]:
    params = payload.get("parameters")
    if params is None and "outputs" not in payload:
        return True, False  # the common request: predictions, as requested_outputs answers
    probabilities = None
    if isinstance(params, dict) and "probabilities" in params:
        probabilities = params["probabilities"]
    outputs = payload.get("outputs")
    if outputs is None:
        return requested_outputs(None, probabilities)
    if not isinstance(outputs, list):
        raise BadRequest('"outputs" must be a list of {"name": ...}')
    names = [out.get("name") if isinstance(out, dict) else None for out in outputs]
    return requested_outputs(names, probabilities)


def requested_outputs(names: list[Any] | None, probabilities: Any = None) -> tuple[bool, bool]:
    """(predict, predict_proba) asked for by a v2 request's output names and its
    `probabilities` parameter (None when absent); no names means predictions."""
    want_proba = False
    if probabilities is not None:
        want_proba = bool_flag(probabilities, "parameters.probabilities")
    if not names:
        return True, want_proba
    for i, name in enumerate(names):
        if name not in (PREDICT, PREDICT_PROBA):
            raise BadRequest(
                f"outputs[{i}].name {name!r} is unknown; this model has outputs "
                f"{PREDICT!r} and {PREDICT_PROBA!r}"
            )
    return PREDICT in names, want_proba or PREDICT_PROBA in names


def v2_datatype(arr: np.ndarray) -> str:
    """The v2 datatype naming a numpy array's type."""
    kind = arr.dtype.kind
    if kind == "f":
        return "FP32" if arr.dtype.itemsize == 4 else "FP64"
    if kind == "i":
        return "INT64" if arr.dtype.itemsize == 8 else f"INT{arr.dtype.itemsize * 8}"
    if kind == "u":
        return f"UINT{arr.dtype.itemsize * 8}"
    if kind == "b":
        return "BOOL"
    return "BYTES"


def _jsonable(arr: np.ndarray) -> Any:
    # orjson serialises numeric arrays natively; strings and objects need lists
    return arr if arr.dtype.kind in _NUMERIC_KINDS else arr.tolist()


def encode_v2(
    model_name: str,
    model_version: str,
    request_id: str | None,
    preds: np.ndarray | None,
    proba: np.ndarray | None,
    classes: Sequence | None,
) -> bytes:
    """A v2 infer response with the outputs asked for."""
    outputs: list[dict[str, Any]] = []
    if preds is not None:
        outputs.append(
            {
                "name": PREDICT,
                "datatype": v2_datatype(preds),
                "shape": list(preds.shape),
                "data": _jsonable(preds.ravel()),
            }
        )
    if proba is not None:
        outputs.append(
            {
                "name": PREDICT_PROBA,
                "datatype": v2_datatype(proba),
                "shape": list(proba.shape),
                "data": proba.ravel(),
                "parameters": {"classes": list(classes) if classes is not None else None},
            }
        )
    response: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "outputs": outputs,
    }
    if request_id is not None:
        response["id"] = request_id
    return dumps(response)


# --- one entry per protocol -----------------------------------------------------------------------


def decode(
    protocol: str, body: bytes, header_length: int | None, query: bytes, shape: ModelShape
) -> Inference:
    """A request body of one protocol (`v2_infer`, `score`, `v1_predict`) decoded and validated.

    Plain arguments only: it also runs in the decode worker process (dataplane.py)."""
    if protocol == "v2_infer":
        return parse_v2(body, header_length, shape)
    parse = parse_score if protocol == "score" else parse_v1
    payload = loads(body)
    rows, want_proba = parse(payload, shape, query)
    return Inference(rows, True, want_proba, inputs=(_rows_field(payload),))


def _rows_field(payload: dict) -> str:
    """The field a parsed /score or v1 body had its rows in (as parse_score, parse_v1 read it)."""
    for key in ("data", "instances", "inputs"):
        if key in payload:
            return key
    return "input_data" if isinstance(payload.get("input_data"), list) else "input_data.data"


def encode(
    protocol: str,
    inference: Inference,
    preds: np.ndarray | None,
    proba: np.ndarray | None,
    classes: Sequence | None,
    model_name: str,
    model_version: str,
) -> bytes:
    """The answer to a decoded request in its protocol's shape."""
    if protocol == "v2_infer":
        return encode_v2(model_name, model_version, inference.request_id, preds, proba, classes)
    assert preds is not None
    encoder = encode_score if protocol == "score" else encode_v1
    return encoder(preds, proba, list(classes) if classes is not None else None)
