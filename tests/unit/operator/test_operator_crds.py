"""The CRDs teach the API (descriptions, columns, names) and match the typed api/ models."""

import types
import typing
from pathlib import Path

import pytest
import yaml
from modelserve_operator.api import BatchDeployment, Model, OnlineEndpoint
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[3]
CRDS = {
    "Model": (ROOT / "crds" / "modelserve.io_models.yaml", Model),
    "OnlineEndpoint": (ROOT / "crds" / "modelserve.io_onlineendpoints.yaml", OnlineEndpoint),
    "BatchDeployment": (ROOT / "crds" / "modelserve.io_batchdeployments.yaml", BatchDeployment),
}


def _load(kind):
    return yaml.safe_load(CRDS[kind][0].read_text())


def _schema(kind):
    (version,) = _load(kind)["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_crd_identity(kind):
    crd = _load(kind)
    spec = crd["spec"]
    assert spec["group"] == "modelserve.io" and spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == kind
    assert crd["metadata"]["name"] == f"{spec['names']['plural']}.modelserve.io"
    assert spec["names"]["categories"] == ["modelserve"]
    assert spec["names"]["shortNames"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Ready", "Age"} <= columns


def _walk(schema, path):
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if "items" in schema:
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_every_field_has_a_description(kind):
    missing = [
        path
        for path, node in _walk(_schema(kind), kind)
        if path != f"{kind}.metadata" and not node.get("description", "").strip()
    ]
    assert missing == []


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_cel_rules_have_messages(kind):
    for path, node in _walk(_schema(kind), kind):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule.get("message"), f"{path}: rule {rule['rule']!r} has no message"


def _unwrap(annotation):
    """The BaseModel class inside Optional[...], list[...] or dict[str, ...], if any."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(inner[0]) if len(inner) == 1 else None
    if origin in (list, dict):
        return _unwrap(typing.get_args(annotation)[-1])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _compare(model, schema, path, problems):
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    props = schema.get("properties", {})
    for name in sorted(set(props) - set(fields)):
        problems.append(f"{path}.{name}: in the CRD but not in {model.__name__}")
    for name in sorted(set(fields) - set(props)):
        problems.append(f"{path}.{name}: in {model.__name__} but not in the CRD")
    for name in sorted(set(props) & set(fields)):
        prop, field = props[name], fields[name]
        scalar_default = "default" in prop and not isinstance(prop["default"], dict)
        if scalar_default and field.default != prop["default"]:
            problems.append(
                f"{path}.{name}: CRD default {prop['default']!r} != model {field.default!r}"
            )
        nested = _unwrap(field.annotation)
        if nested is None or name == "metadata":
            continue
        child = prop
        while "properties" not in child and ("items" in child or "additionalProperties" in child):
            child = child.get("items") or child["additionalProperties"]
        _compare(nested, child, f"{path}.{name}", problems)


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_crd_and_api_models_agree(kind):
    problems = []
    schema = _schema(kind)
    model = CRDS[kind][1]
    for part in ("spec", "status"):
        part_model = _unwrap(model.model_fields[part].annotation)
        _compare(part_model, schema["properties"][part], f"{kind}.{part}", problems)
    assert problems == []


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_reference_documents_every_spec_field(kind):
    reference = (ROOT / "docs" / "api.md").read_text()
    undocumented = [
        path.removeprefix(f"{kind}.")
        for path, _ in _walk(_schema(kind)["properties"]["spec"], f"{kind}.spec")
        if path.count(".") > 1
        and not path.endswith(("[]", "}"))
        and f"`{path.removeprefix(f'{kind}.')}`" not in reference
    ]
    assert undocumented == []
