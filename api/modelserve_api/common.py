"""Shared pieces of the three kinds: the camelCase base model, metadata, references, errors."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from .markers import kube

_Parsed = TypeVar("_Parsed", bound=BaseModel)

# Names the API server (and a Pod) accept, as the CRD checks them.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$"
LABEL_VALUE = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
CONFIG_MAP_KEY = r"^[-._a-zA-Z0-9]+$"
QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]"
    r"|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# A path segment of "..": relative paths must stay inside their volume.
PARENT_SEGMENT = r"(^|/)\.\.(/|$)"
# The same test in CEL (RE2 without backslashes, so the YAML stays readable).
PARENT_SEGMENT_CEL = "(^|/)[.][.](/|$)"


class ApiModel(BaseModel):
    """Base of every spec/status model: camelCase on the wire, snake_case in Python."""

    # Unknown fields are ignored, not refused: the API server already prunes them,
    # and an older operator must keep working against a newer CRD. A component that
    # must refuse them (the trainer) asks unknown_fields() first.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    def to_wire(self) -> dict[str, Any]:
        """The camelCase dict the API server expects, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class SpecError(ValueError):
    """A document a component cannot act on; the message names the field path of each problem."""

    def __init__(self, kind: str, problems: list[tuple[str, str]]) -> None:
        self.kind = kind
        self.problems = problems
        detail = "; ".join(f"{path}: {message}" if path else message for path, message in problems)
        super().__init__(f"invalid {kind}: {detail}")


def field_path(location: tuple[str | int, ...]) -> str:
    """``("data", "features", 2)`` as ``data.features[2]``."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def validation_problems(error: ValidationError) -> list[tuple[str, str]]:
    """(field path, message) of each error pydantic found."""
    return [
        (field_path(e["loc"]), str(e["msg"]).removeprefix("Value error, ")) for e in error.errors()
    ]


def parse_or_raise(model: type[_Parsed], kind: str, body: Mapping[str, Any]) -> _Parsed:
    """Validate ``body`` into ``model``; turn pydantic's errors into one SpecError."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise SpecError(kind, validation_problems(error)) from None


def unknown_fields(model: type[BaseModel], body: Any, location: str = "") -> list[str]:
    """Field paths in ``body`` that ``model`` does not know (in nested models, lists, maps too)."""
    if not isinstance(body, Mapping):
        return []
    fields = {}
    for name, info in model.model_fields.items():
        fields[name] = fields[info.alias or name] = info
    found = []
    for key, value in body.items():
        path = f"{location}.{key}" if location else str(key)
        info = fields.get(key)
        found += [path] if info is None else _unknown_inside(info.annotation, value, path)
    return found


def _unknown_inside(annotation: Any, value: Any, path: str) -> list[str]:
    """Unknown fields inside a value of this type (a model, a list or map of models)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return [p for arg in args for p in _unknown_inside(arg, value, path)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return unknown_fields(annotation, value, path)
    if origin is list and isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _unknown_inside(args[0], v, f"{path}[{i}]")]
    if origin is dict and isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _unknown_inside(args[1], v, f"{path}.{k}")]
    return []


class ObjectMeta(ApiModel):
    """The part of metadata the operator uses."""

    name: str
    namespace: str = "default"
    uid: str = ""
    generation: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Condition(ApiModel):
    """One aspect of the current state."""

    type: str = Field(description="Type of the condition, for example Ready.", max_length=316)
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    last_transition_time: str = Field(
        description="When the status last changed.", json_schema_extra=kube(format="date-time")
    )
    reason: str = Field(
        description="Machine-readable CamelCase reason for the last transition.", max_length=1024
    )
    message: str = Field(description="Human-readable details.", max_length=32768)
    observed_generation: int | None = Field(
        default=None,
        description="The metadata.generation the condition was set for.",
        json_schema_extra=kube(format="int64"),
    )


def conditions_field(description: str) -> Any:
    """status.conditions of a kind: metav1.Conditions, one per type."""
    return Field(
        default_factory=list,
        description=description,
        max_length=16,
        json_schema_extra=kube(list_type="map", list_map_keys=["type"]),
    )


def observed_generation_field() -> Any:
    """status.observedGeneration of a kind."""
    return Field(
        default=None,
        description="The metadata.generation this status describes.",
        json_schema_extra=kube(format="int64"),
    )


class ModelReference(ApiModel):
    """Which registered Model this deployment serves."""

    name: str = Field(
        description="The Model's spec.modelName.", min_length=1, max_length=63, pattern=DNS_LABEL
    )
    version: str = Field(
        default="latest",
        description='The Model\'s spec.version, or "latest" for the highest version whose '
        "Model is Ready.",
        min_length=1,
        max_length=63,
        pattern=LABEL_VALUE,
    )

    @property
    def follows_latest(self) -> bool:
        """Whether the reference floats to the newest Ready version."""
        return self.version == "latest"


Quantity = Annotated[
    str | int,
    Field(
        description="A resource quantity.",
        json_schema_extra=kube(int_or_string=True, pattern=QUANTITY),
    ),
]


class Resources(ApiModel):
    """CPU and memory requests and limits of the scoring container (as in a Pod spec)."""

    requests: dict[str, Quantity] | None = Field(
        default=None,
        description="Resources reserved per pod, for example {cpu: 500m, memory: 512Mi}.",
        max_length=8,
    )
    limits: dict[str, Quantity] | None = Field(
        default=None, description="Most a pod may use, for example {memory: 1Gi}.", max_length=8
    )


class ScoringScript(ApiModel):
    """A Python scoring script with init() and run(raw_data) functions, kept in a ConfigMap;
    replaces the built-in runtime."""

    config_map: str = Field(
        description="Name of the ConfigMap in the endpoint's namespace.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
    )
    key: str = Field(
        default="score.py",
        description="Key of the script in the ConfigMap.",
        min_length=1,
        max_length=253,
        pattern=CONFIG_MAP_KEY,
    )


def object_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """metadata, spec and status of an object body, dropping empty ones."""
    # Kopf hands over a missing status as an empty mapping; both mean "nothing yet".
    return {k: v for k, v in dict(body).items() if k in ("metadata", "spec", "status") and v}
