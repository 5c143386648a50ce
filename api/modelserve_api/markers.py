"""Kubernetes markers on the pydantic types: what a CRD says that pydantic has no words for.

The counterpart of kubebuilder's ``// +kubebuilder:`` comments. ``kube(...)`` returns the
OpenAPI keys to put in a Field's (or a model_config's) ``json_schema_extra``; crdgen copies
them into the generated schema node. ``CustomResource`` names a kind and its printer columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

_UNSET: Any = object()


@dataclass(frozen=True)
class Rule:
    """One CEL rule the API server checks (an ``x-kubernetes-validations`` entry)."""

    rule: str
    message: str
    # Where the error points, relative to the node the rule sits on (".path").
    field_path: str | None = None

    def to_schema(self) -> dict[str, str]:
        """The entry as the CRD writes it."""
        entry = {"rule": self.rule}
        if self.field_path:
            entry["fieldPath"] = self.field_path
        entry["message"] = self.message
        return entry


def kube(
    *,
    rules: Sequence[Rule] = (),
    default: Any = _UNSET,
    enum: Sequence[Any] = (),
    format: str | None = None,
    list_type: Literal["atomic", "set", "map"] | None = None,
    list_map_keys: Sequence[str] = (),
    preserve_unknown_fields: bool = False,
    int_or_string: bool = False,
    pattern: str | None = None,
) -> dict[str, Any]:
    """OpenAPI keys for ``json_schema_extra``; pydantic's own constraints need none of this.

    ``default`` is for an object field whose default is built by a factory (pydantic puts
    no value in the schema for those); scalar defaults come from the Field itself.
    ``enum`` is for a string the type keeps open so that its own check can explain a
    refusal better; ``pattern`` is for an int-or-string, where pydantic cannot apply one.
    """
    extra: dict[str, Any] = {}
    if format is not None:
        extra["format"] = format
    if pattern is not None:
        extra["pattern"] = pattern
    if enum:
        extra["enum"] = list(enum)
    if default is not _UNSET:
        extra["default"] = default
    if list_type is not None:
        extra["x-kubernetes-list-type"] = list_type
    if list_map_keys:
        extra["x-kubernetes-list-map-keys"] = list(list_map_keys)
    if preserve_unknown_fields:
        extra["x-kubernetes-preserve-unknown-fields"] = True
    if int_or_string:
        extra["x-kubernetes-int-or-string"] = True
    if rules:
        extra["x-kubernetes-validations"] = [r.to_schema() for r in rules]
    return extra


@dataclass(frozen=True)
class PrinterColumn:
    """A column of ``kubectl get`` (an ``additionalPrinterColumns`` entry)."""

    name: str
    json_path: str
    type: str = "string"
    description: str | None = None

    def to_schema(self) -> dict[str, str]:
        """The entry as the CRD writes it."""
        column = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            column["description"] = self.description
        return column


AGE_COLUMN = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")
READY_COLUMN_PATH = '.status.conditions[?(@.type=="Ready")].status'


@dataclass(frozen=True)
class CustomResource:
    """How a top-level type is served: its names, scope and printer columns."""

    plural: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("modelserve",)
    printer_columns: tuple[PrinterColumn, ...] = field(default=())
