"""Typed spec and status of the Model kind (one registered model version)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .common import ApiModel, Condition, ObjectMeta, object_fields, parse_or_raise

SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"
ARTIFACT_URI_PATTERN = (
    r"^(pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/[^/].*"
    r"|configmap://[a-z0-9]([-.a-z0-9]*[a-z0-9])?/[-._a-zA-Z0-9]+"
    r"|https?://[^/\s]+(/\S*)?)$"
)


class Artifact(ApiModel):
    """Where the serialized model is and the digest it must have."""

    uri: str = Field(min_length=1, max_length=2048, pattern=ARTIFACT_URI_PATTERN)
    sha256: str = Field(pattern=SHA256_PATTERN)

    @property
    def scheme(self) -> str:
        """pvc, configmap, http or https."""
        return self.uri.split("://", 1)[0]


class TensorSpec(ApiModel):
    """One named input or output tensor."""

    name: str
    datatype: str
    shape: list[int] | None = None


class Signature(ApiModel):
    """Input and output schema of a model."""

    inputs: list[TensorSpec] | None = None
    outputs: list[TensorSpec] | None = None


class ModelSpec(ApiModel):
    """The registered version; immutable once created."""

    model_name: str = Field(min_length=1, max_length=63)
    version: str = Field(min_length=1, max_length=63)
    framework: Literal["sklearn", "custom"]
    runtime: Literal["auto", "sklearn", "onnx"] = "auto"
    artifact: Artifact
    signature: Signature | None = None
    description: str | None = None
    tags: dict[str, str] | None = None
    # Defined by the training issue; kept as a plain mapping until then.
    training: dict[str, Any] | None = None


class ModelStatus(ApiModel):
    """What loading (and training) the model taught the operator."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    n_features: int | None = None
    classes: list[str] | None = None
    feature_names: list[str] | None = None
    library_versions: dict[str, str] | None = None
    size_bytes: int | None = None
    metrics: dict[str, Any] | None = None


class Model(ApiModel):
    """A Model object as the operator sees it."""

    metadata: ObjectMeta
    spec: ModelSpec
    status: ModelStatus = Field(default_factory=ModelStatus)


def parse_model(body: dict[str, Any]) -> Model:
    """Validate a Model object (as received from the API server or Kopf)."""
    return parse_or_raise(Model, "Model", object_fields(body))
