"""Each distribution pulls in only its own dependencies (read from the installed metadata)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

COMPONENTS = ["modelserve-api", "modelserve-operator", "modelserve-scoring", "modelserve-client"]


def closure(name: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """Every distribution `pip install <name>` would install, by the installed metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    found: set[str] = set()
    todo = [(canonicalize_name(name), extras)]
    while todo:
        current, wanted = todo.pop()
        if (current, wanted) in seen:
            continue
        seen.add((current, wanted))
        found.add(current)
        for line in metadata.distribution(current).requires or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in wanted] or [{"extra": ""}]
            if requirement.marker and not any(
                requirement.marker.evaluate(env) for env in environments
            ):
                continue
            todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return found


def test_the_client_pulls_in_neither_kopf_nor_the_scoring_stack():
    pulled = closure("modelserve-client")
    assert "kubernetes" in pulled and "modelserve-api" in pulled
    heavy = {"kopf", "scikit-learn", "numpy", "pandas", "onnxruntime", "cryptography"}
    assert pulled & heavy == set()


def test_the_api_needs_only_pydantic_and_pyyaml():
    assert closure("modelserve-api") - {"modelserve-api"} <= {
        "pydantic",
        "pydantic-core",
        "annotated-types",
        "typing-extensions",
        "typing-inspection",
        "pyyaml",
    }
    assert "kubernetes" in closure("modelserve-api", frozenset({"kube"}))


@pytest.mark.parametrize("component", COMPONENTS)
def test_no_component_depends_on_another_or_on_the_dev_cluster(component):
    others = {canonicalize_name(c) for c in COMPONENTS if c not in (component, "modelserve-api")}
    pulled = closure(component)
    assert pulled & others == set()
    assert "modelserve-cluster" not in pulled


def test_each_command_belongs_to_its_own_distribution():
    owners = {
        entry.name: canonicalize_name(dist.metadata["Name"])
        for dist in metadata.distributions()
        if dist.metadata["Name"].startswith("modelserve")
        for entry in dist.entry_points
        if entry.group == "console_scripts"
    }
    assert owners == {
        "modelserve": "modelserve-client",
        "modelserve-operator": "modelserve-operator",
        "modelserve-scoring": "modelserve-scoring",
    }


def test_components_import_only_modelserve_api_from_each_other():
    """The import contracts in pyproject.toml ([tool.importlinter]), checked by lint-imports."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
