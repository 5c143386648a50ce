"""The CRDs are what the pydantic types generate, and they teach the API (descriptions,
columns, names, CEL messages)."""

import shutil
from pathlib import Path

import pytest
import yaml
from modelserve_api import BatchDeployment, Model, OnlineEndpoint, crdgen

ROOT = Path(__file__).resolve().parents[3]
CRD_DIRS = [ROOT / "crds", ROOT / "charts" / "modelserve" / "crds"]
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


@pytest.mark.parametrize("directory", CRD_DIRS, ids=lambda d: str(d.relative_to(ROOT)))
def test_committed_crds_are_what_the_types_generate(directory):
    assert crdgen.stale_files(directory) == [], "run hack/generate-crds.sh"


@pytest.mark.parametrize("kind", crdgen.KINDS, ids=lambda k: k.__name__)
def test_the_yaml_reads_back_as_the_generated_document(kind):
    assert yaml.safe_load(crdgen.render(kind)) == crdgen.crd_document(kind)


def test_check_reports_edits_and_leftovers_and_writing_repairs_them(tmp_path, capsys):
    crds = tmp_path / "crds"
    shutil.copytree(ROOT / "crds", crds)
    assert crdgen.main(["--check", str(crds)]) == 0

    edited = crds / "modelserve.io_models.yaml"
    edited.write_text(edited.read_text().replace("minLength: 64", "minLength: 1", 1))
    (crds / "modelserve.io_retired.yaml").write_text("kind: CustomResourceDefinition\n")
    assert crdgen.main(["--check", str(crds)]) == 1
    err = capsys.readouterr().err
    assert "modelserve.io_models.yaml (differs)" in err
    assert "modelserve.io_retired.yaml (no such kind)" in err

    assert crdgen.main([str(crds)]) == 0
    assert sorted(p.name for p in crds.iterdir()) == sorted(
        p.name for p in (ROOT / "crds").iterdir()
    )
    assert crdgen.main(["--check", str(crds)]) == 0


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
