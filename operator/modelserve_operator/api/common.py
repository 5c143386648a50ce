"""Shared pieces of the three kinds: the camelCase base model, metadata, references, errors."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

_Parsed = TypeVar("_Parsed", bound=BaseModel)


class ApiModel(BaseModel):
    """Base of every spec/status model: camelCase on the wire, snake_case in Python."""

    # Unknown fields are ignored, not refused: the API server already prunes them,
    # and an older operator must keep working against a newer CRD.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    def to_wire(self) -> dict[str, Any]:
        """The camelCase dict the API server expects, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class SpecError(ValueError):
    """A custom resource the operator cannot act on; the message names the field path."""

    def __init__(self, kind: str, problems: list[tuple[str, str]]) -> None:
        self.kind = kind
        self.problems = problems
        detail = "; ".join(f"{path}: {message}" for path, message in problems)
        super().__init__(f"invalid {kind}: {detail}")


def _field_path(location: tuple[str | int, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def parse_or_raise(model: type[_Parsed], kind: str, body: dict[str, Any]) -> _Parsed:
    """Validate ``body`` into ``model``; turn pydantic's errors into one SpecError."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = [(_field_path(e["loc"]), e["msg"]) for e in error.errors()]
        raise SpecError(kind, problems) from None


class ObjectMeta(ApiModel):
    """The part of metadata the operator uses."""

    name: str
    namespace: str = "default"
    uid: str = ""
    generation: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Condition(ApiModel):
    """A metav1.Condition."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class ModelReference(ApiModel):
    """Which registered Model to use: its modelName and a version or "latest"."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    version: str = Field(default="latest", min_length=1, max_length=63)

    @property
    def follows_latest(self) -> bool:
        """Whether the reference floats to the newest Ready version."""
        return self.version == "latest"


class Resources(ApiModel):
    """Requests and limits of a container (core ResourceRequirements subset)."""

    requests: dict[str, str | int] | None = None
    limits: dict[str, str | int] | None = None


class ScoringScript(ApiModel):
    """A Python scoring script kept in a ConfigMap."""

    config_map: str = Field(min_length=1, max_length=253)
    key: str = Field(default="score.py", min_length=1, max_length=253)


def object_fields(body: dict[str, Any]) -> dict[str, Any]:
    """metadata, spec and status of an object body, dropping empty ones."""
    # Kopf hands over a missing status as an empty mapping; both mean "nothing yet".
    return {k: v for k, v in dict(body).items() if k in ("metadata", "spec", "status") and v}
