"""The shapes of the data-plane routes' bodies, for the OpenAPI document (routes.py says which
route takes which). The server parses bodies with codecs.py, not with these models: they
describe, the codecs decide (and name the field in their 400s)."""

from __future__ import annotations

from typing import Any, Literal

from modelserve_api.model import DATATYPES as Datatype
from pydantic import BaseModel, ConfigDict, Field, RootModel

Scalar = float | int | bool | str
#: a tensor's data: flat, or nested as deep as its shape (row-major); null is a missing value
#: (NaN) in a floating-point tensor
TensorData = list[Scalar | None] | list[list[Scalar | None]]
#: rows of features: numbers (null: a missing value, NaN), or text for a model fit on a
#: DataFrame with text columns
Rows = list[list[float | str | None]]


class ErrorBody(BaseModel):
    """Every refusal: what was wrong, naming the field; `requestId` where the request had one."""

    error: str
    requestId: str | None = None


class Status(BaseModel):
    """A health answer."""

    status: Literal["ok"]


# --- Open Inference Protocol v2 ----------------------------------------------------------------


class RequestInput(BaseModel):
    """One input tensor."""

    name: str
    shape: list[int] = Field(description="Dimensions; [rows, features], or [rows] per column.")
    datatype: Datatype
    parameters: dict[str, Any] | None = Field(
        None, description='`{"binary_data_size": n}` for the binary tensor extension.'
    )
    data: TensorData | None = Field(None, description="Absent when sent as binary data.")


class RequestOutput(BaseModel):
    """An output asked for by name."""

    name: Literal["predict", "predict_proba"]
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    """POST /v2/models/{m}/infer: one [rows, features] tensor, or one tensor per feature."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": True})

    id: str | None = Field(None, description="Echoed back, and the request id if no header.")
    parameters: dict[str, Any] | None = Field(
        None, description='`{"probabilities": true}` adds predict_proba.'
    )
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    """One output tensor (always JSON)."""

    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Any] | None = Field(
        None, description="predict_proba: `classes`, the order of its columns."
    )
    data: list[Scalar | None]


class InferenceResponse(BaseModel):
    """The outputs asked for: predict and, for classifiers, predict_proba."""

    model_name: str
    model_version: str | None = None
    id: str | None = None
    outputs: list[ResponseOutput]


class MetadataTensor(BaseModel):
    """An input or output in model metadata."""

    name: str
    datatype: Datatype
    shape: list[int]


class ServerMetadata(BaseModel):
    """GET /v2."""

    name: str
    version: str
    extensions: list[str]


class ModelMetadata(BaseModel):
    """GET /v2/models/{m}: inputs, outputs, and in parameters what loading the model taught."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: dict[str, Any]


class ModelReady(BaseModel):
    """Readiness of one model (v2 model ready, KServe v1 model status)."""

    name: str
    ready: bool


# --- POST /score (managed-endpoint shape) -------------------------------------------------------


class InputData(BaseModel):
    """Pandas "split" orientation; with columns, a model fit on a DataFrame takes them by name."""

    columns: list[str | int] | None = None
    index: list[Any] | None = None
    data: Rows


class ScoreRequest(BaseModel):
    """Either shape; `?probabilities=true` works too."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": True})

    data: Rows | None = None
    input_data: InputData | Rows | None = None
    probabilities: bool | None = None


class Probabilities(BaseModel):
    """With probabilities asked for: predictions, one row of probabilities each, class order."""

    predictions: list[Scalar | None]
    probabilities: list[list[float | None]]
    classes: list[Scalar] | None


class ScoreResponse(RootModel[list[Scalar | None] | Probabilities]):
    """A list of predictions, or predictions with probabilities (a scoring script's own JSON
    under a custom script)."""


# --- KServe v1 ---------------------------------------------------------------------------------


class PredictRequest(BaseModel):
    """`{"instances": [[...], ...]}` (`inputs` is taken as a synonym)."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": True})

    instances: Rows | None = None
    inputs: Rows | None = None
    probabilities: bool | None = None


class PredictResponse(BaseModel):
    """Predictions, plus probabilities and classes when asked for."""

    predictions: list[Scalar | None]
    probabilities: list[list[float | None]] | None = None
    classes: list[Scalar] | None = None
