"""Generate the CustomResourceDefinitions from the pydantic types, as controller-gen does.

Descriptions come from ``Field(description=...)``, else the type's docstring; enums from
``Literal``; bounds from ``ge``/``gt``/``le``/``lt``/``min_length``/``max_length``/``pattern``;
defaults from Field defaults (spec only: status carries none, the API server must not invent
observed facts); CEL rules, formats and list markers from ``kube(...)`` in
``json_schema_extra``; names and printer columns from the kind's ``CustomResource``.

``python -m modelserve_api.crdgen DIR [DIR ...]`` writes ``modelserve.io_<plural>.yaml`` into
each directory (hack/generate-crds.sh: crds/ and the chart's crds/); ``--check`` writes nothing
and fails if a file differs.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from . import constants as c
from .batch_deployment import BatchDeployment
from .common import ApiModel
from .markers import CustomResource
from .model import Model
from .online_endpoint import OnlineEndpoint

KINDS: tuple[type[ApiModel], ...] = (BatchDeployment, Model, OnlineEndpoint)

# The order keys are written in, so a node reads top-down: what it is, what it holds.
_KEY_ORDER = (
    "type",
    "format",
    "description",
    "required",
    "enum",
    "exclusiveMinimum",
    "minimum",
    "exclusiveMaximum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "default",
    "anyOf",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-validations",
    "properties",
    "additionalProperties",
    "items",
)
_BOUNDS = {
    "string": ("minLength", "maxLength"),
    "array": ("minItems", "maxItems"),
    "object": ("minProperties", "maxProperties"),
}
_SCALARS = {str: "string", bool: "boolean", int: "integer", float: "number"}


def _text(doc: str | None) -> str | None:
    """A docstring or description as one paragraph."""
    return " ".join(inspect.cleandoc(doc).split()) if doc else None


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    unknown = set(node) - set(_KEY_ORDER)
    if unknown:
        raise ValueError(f"crdgen has no place for schema keys {sorted(unknown)}")
    return {key: node[key] for key in _KEY_ORDER if key in node}


def _without_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        return Union[tuple(args)]  # noqa: UP007 - rebuilt from a runtime tuple
    return annotation


def _type_schema(annotation: Any, status: bool) -> dict[str, Any]:
    """The schema of a type, before the field's own description, bounds and markers."""
    annotation = _without_none(annotation)
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return {"x-kubernetes-preserve-unknown-fields": True}
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return object_schema(annotation, status)
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    if origin is Literal:
        values = list(typing.get_args(annotation))
        return {"type": _SCALARS[type(values[0])], "enum": values}
    if origin is list:
        (item,) = typing.get_args(annotation)
        return {"type": "array", "items": _nested_schema(item, status)}
    if origin is dict:
        _, value = typing.get_args(annotation)
        if value is Any:
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return {"type": "object", "additionalProperties": _nested_schema(value, status)}
    if origin in (Union, types.UnionType) and set(typing.get_args(annotation)) == {str, int}:
        return {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    raise TypeError(f"crdgen cannot describe {annotation!r}")


def _nested_schema(annotation: Any, status: bool) -> dict[str, Any]:
    """A list item or a map value; an Annotated one carries its own description and bounds."""
    return field_schema(FieldInfo.from_annotation(annotation), status)


def field_schema(info: FieldInfo, status: bool) -> dict[str, Any]:
    """The schema node of one field: its type, then the field's description, bounds, markers."""
    node = _type_schema(info.annotation, status)
    if info.description:
        node["description"] = _text(info.description)
    bounds = _BOUNDS.get(node.get("type", ""), (None, None))
    for constraint in info.metadata:
        for attribute, key in (
            ("ge", "minimum"),
            ("gt", "minimum"),
            ("le", "maximum"),
            ("lt", "maximum"),
            ("min_length", bounds[0]),
            ("max_length", bounds[1]),
            ("pattern", "pattern"),
        ):
            value = getattr(constraint, attribute, None)
            if value is None:
                continue
            if key is None:
                raise TypeError(f"{attribute} has no meaning on a {node.get('type')} node")
            node[key] = value
            if attribute in ("gt", "lt"):
                node["exclusiveMinimum" if attribute == "gt" else "exclusiveMaximum"] = True
    if not status and info.default not in (PydanticUndefined, None):
        node["default"] = info.default
    extra = info.json_schema_extra
    if callable(extra):
        raise TypeError("crdgen reads json_schema_extra as a dict of OpenAPI keys")
    for key, value in (extra or {}).items():
        if key == "x-kubernetes-validations":
            node[key] = [*node.get(key, []), *value]
        else:
            node[key] = value
    return _ordered(node)


def object_schema(model: type[BaseModel], status: bool) -> dict[str, Any]:
    """An object node: the type's docstring, required fields, its own CEL rules, properties."""
    node: dict[str, Any] = {"type": "object"}
    description = _text(model.__doc__)
    if description:
        node["description"] = description
    required = [f.alias or name for name, f in model.model_fields.items() if f.is_required()]
    if required:
        node["required"] = required
    node.update(model.model_config.get("json_schema_extra") or {})  # type: ignore[arg-type]
    node["properties"] = {
        (f.alias or name): field_schema(f, status) for name, f in model.model_fields.items()
    }
    return _ordered(node)


def kind_schema(kind: type[ApiModel]) -> dict[str, Any]:
    """The openAPIV3Schema of a kind: apiVersion, kind, metadata, spec and status."""
    node = object_schema(kind, status=False)
    node["required"] = [name for name in node["required"] if name != "metadata"]
    properties = node["properties"]
    properties.pop("metadata")
    properties["status"] = field_schema(kind.model_fields["status"], status=True)
    node["properties"] = {
        "apiVersion": {
            "type": "string",
            "description": "APIVersion defines the versioned schema of this representation of "
            "an object.",
        },
        "kind": {
            "type": "string",
            "description": "Kind is a string value representing the REST resource this object "
            "represents.",
        },
        "metadata": {"type": "object"},
        **properties,
    }
    return node


def crd_document(kind: type[ApiModel]) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    resource: CustomResource = kind.crd  # type: ignore[attr-defined]
    name = kind.__name__
    names: dict[str, Any] = {
        "kind": name,
        "listKind": f"{name}List",
        "plural": resource.plural,
        "singular": name.lower(),
    }
    if resource.short_names:
        names["shortNames"] = list(resource.short_names)
    if resource.categories:
        names["categories"] = list(resource.categories)
    version: dict[str, Any] = {
        "name": c.VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
    }
    if resource.printer_columns:
        version["additionalPrinterColumns"] = [col.to_schema() for col in resource.printer_columns]
    version["schema"] = {"openAPIV3Schema": kind_schema(kind)}
    spec = {"group": c.GROUP, "scope": "Namespaced", "names": names, "versions": [version]}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": crd_name(kind),
            "labels": {
                "app.kubernetes.io/name": "modelserve",
                "app.kubernetes.io/part-of": "modelserve",
            },
            # An operator compares it with its own at start: CRDs left from an older
            # release would have the API server prune every field added since.
            "annotations": {c.ANNOTATION_SCHEMA_DIGEST: spec_digest(spec)},
        },
        "spec": spec,
    }


def crd_name(kind: type[ApiModel]) -> str:
    """<plural>.modelserve.io"""
    return f"{kind.crd.plural}.{c.GROUP}"  # type: ignore[attr-defined]


def spec_digest(spec: dict[str, Any]) -> str:
    """Digest of a CRD's spec: what its `modelserve.io/schema-digest` annotation holds."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def schema_digest(kind: type[ApiModel]) -> str:
    """The digest a kind's generated CRD carries in `modelserve.io/schema-digest`."""
    return crd_document(kind)["metadata"]["annotations"][c.ANNOTATION_SCHEMA_DIGEST]


class _Dumper(yaml.SafeDumper):
    """Block style with indented lists; long text folded, short lists of scalars on one line."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    # Only folded text (">-") is wrapped; a short scalar stays on its line however deep.
    def write_plain(self, text: str, split: bool = True) -> None:
        super().write_plain(text, split=False)

    def write_single_quoted(self, text: str, split: bool = True) -> None:
        super().write_single_quoted(text, split=False)

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        super().write_double_quoted(text, split=False)


class _Cel(str):
    """A CEL rule: never folded (a space may sit inside a regular expression), its own line
    breaks kept."""


def _represent_cel(dumper: yaml.SafeDumper, rule: str) -> yaml.ScalarNode:
    style = "|" if "\n" in rule else ('"' if "'" in rule and '"' not in rule else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(rule), style=style)


def _mark_rules(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _Cel(v) if k == "rule" else _mark_rules(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_mark_rules(v) for v in node]
    return node


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if len(text) > 80 and " " in text and "\n" not in text and text == text.strip():
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=">")
    if "'" in text and '"' not in text and "\\" not in text:
        # CEL rules quote with ''; inside double quotes they read as written.
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", text)


def _represent_list(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.SequenceNode:
    flat = all(isinstance(i, str | int | float | bool) for i in items)
    short = flat and len(", ".join(map(str, items))) <= 60
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=short)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Cel, _represent_cel)
_Dumper.add_representer(list, _represent_list)


def render(kind: type[ApiModel]) -> str:
    """The CRD of one kind as YAML text."""
    header = (
        "# Generated from modelserve_api (the pydantic types) by hack/generate-crds.sh;\n"
        "# edit the types, not this file.\n"
    )
    document = _mark_rules(crd_document(kind))
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=96)
    return header + body


def file_name(kind: type[ApiModel]) -> str:
    """modelserve.io_<plural>.yaml, the name kubebuilder gives a CRD file."""
    return f"{c.GROUP}_{kind.crd.plural}.yaml"  # type: ignore[attr-defined]


def stale_files(directory: Path) -> list[str]:
    """Files in ``directory`` that differ from what the types generate, are missing, or are
    left from a kind that is gone."""
    wanted = {file_name(kind): render(kind) for kind in KINDS}
    stale = [
        f"{directory / name} (differs)"
        for name, text in wanted.items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    ]
    stale += [
        f"{path} (no such kind)"
        for path in sorted(directory.glob(f"{c.GROUP}_*.yaml"))
        if path.name not in wanted
    ]
    return stale


def write(directory: Path) -> None:
    """Write every kind's CRD into ``directory`` and remove those of kinds that are gone."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {file_name(kind): render(kind) for kind in KINDS}
    for path in directory.glob(f"{c.GROUP}_*.yaml"):
        if path.name not in wanted:
            path.unlink()
    for name, text in wanted.items():
        (directory / name).write_text(text)


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the CRDs in each directory given."""
    parser = argparse.ArgumentParser(prog="python -m modelserve_api.crdgen", description=__doc__)
    parser.add_argument("directories", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if a file differs; write none")
    args = parser.parse_args(argv)
    if not args.check:
        for directory in args.directories:
            write(directory)
        return 0
    stale = [entry for directory in args.directories for entry in stale_files(directory)]
    for entry in stale:
        print(f"not what the types generate: {entry}", file=sys.stderr)
    if stale:
        print("run hack/generate-crds.sh", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
