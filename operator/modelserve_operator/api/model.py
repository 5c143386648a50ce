"""Typed spec and status of the Model kind (one registered model version)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .common import ApiModel, Condition, ObjectMeta, object_fields, parse_or_raise
from .training import TrainingSpec, TrainingStatus

SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"
ARTIFACT_URI_PATTERN = (
    r"^(pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/[^/].*"
    r"|configmap://[a-z0-9]([-.a-z0-9]*[a-z0-9])?/[-._a-zA-Z0-9]+"
    r"|https?://[^/\s]+(/\S*)?)$"
)


class Artifact(ApiModel):
    """Where the serialized model is and the digest it must have."""

    uri: str = Field(min_length=1, max_length=2048, pattern=ARTIFACT_URI_PATTERN)
    # Left out only when spec.training produces the artifact: the trainer reports the
    # digest and the operator records it in status.training.artifactSha256.
    sha256: str | None = Field(default=None, pattern=SHA256_PATTERN)

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
    training: TrainingSpec | None = None

    @model_validator(mode="after")
    def _artifact_known_or_trained(self) -> ModelSpec:
        if self.training is None and self.artifact.sha256 is None:
            raise ValueError("spec.artifact.sha256 is required unless spec.training produces it")
        if self.training is not None and self.artifact.scheme != "pvc":
            raise ValueError(
                "with spec.training the trainer writes the artifact, so spec.artifact.uri "
                "must be pvc://<claim>/<path>"
            )
        return self


class RuntimeStatus(ApiModel):
    """How a scoring pod serves the model: ONNX Runtime or scikit-learn, and why."""

    requested: str = ""
    selected: str = ""
    fallback: str = ""
    reason: str = ""
    reported_by: str = ""
    observed_at: str | None = None


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
    training: TrainingStatus | None = None
    runtime: RuntimeStatus | None = None

    @property
    def trained_sha256(self) -> str | None:
        """The digest the training Job reported for the artifact it wrote, if any."""
        return self.training.artifact_sha256 if self.training else None


class Model(ApiModel):
    """A Model object as the operator sees it."""

    metadata: ObjectMeta
    spec: ModelSpec
    status: ModelStatus = Field(default_factory=ModelStatus)


def parse_model(body: dict[str, Any]) -> Model:
    """Validate a Model object (as received from the API server or Kopf)."""
    return parse_or_raise(Model, "Model", object_fields(body))
