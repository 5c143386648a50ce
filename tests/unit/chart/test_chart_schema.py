"""values.schema.json: closed at every level, every key described, in step with values.yaml."""

from __future__ import annotations

import json
from typing import Any

import yaml
from chart_helpers import CHART

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
# Kubernetes' own types, passed through untouched and validated by the API server.
FREE_FORM = {"affinity.nodeAffinity", "affinity.podAffinity", "affinity.podAntiAffinity"}


def walk(node: dict[str, Any], path: str = ""):
    """Yield (path, schema) for every schema below the root, array items included."""
    for key, child in (node.get("properties") or {}).items():
        child_path = f"{path}.{key}" if path else key
        yield child_path, child
        yield from walk(child, child_path)
    if isinstance(node.get("items"), dict):
        yield f"{path}[]", node["items"]
        yield from walk(node["items"], f"{path}[]")


def test_every_key_has_a_description():
    missing = [path for path, node in walk(SCHEMA) if not node.get("description")]
    assert missing == []


def test_every_object_is_closed_or_a_typed_map():
    assert SCHEMA["additionalProperties"] is False
    open_objects = []
    for path, node in walk(SCHEMA):
        if node.get("type") != "object" or path in FREE_FORM:
            continue
        extra = node.get("additionalProperties")
        closed = "properties" in node and extra is False
        typed_map = "properties" not in node and isinstance(extra, dict) and "type" in extra
        if not (closed or typed_map):
            open_objects.append(path)
    assert open_objects == []


def test_values_yaml_sets_every_fixed_key_of_the_schema_and_no_other():
    def keys(schema: dict[str, Any], values: dict[str, Any], path: str = "") -> list[str]:
        differences = []
        properties = schema.get("properties")
        # `{}` (affinity) means "none by default": its optional keys need no default.
        if properties is None or not isinstance(values, dict) or values == {}:
            return differences
        for key in sorted(set(properties) | set(values)):
            here = f"{path}.{key}" if path else key
            if key not in values:
                differences.append(f"{here}: in the schema, not in values.yaml")
            elif key not in properties:
                differences.append(f"{here}: in values.yaml, not in the schema")
            elif here not in FREE_FORM:
                differences += keys(properties[key], values[key], here)
        return differences

    assert keys(SCHEMA, VALUES) == []
