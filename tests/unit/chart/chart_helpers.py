"""Render the Helm chart with the real `helm` binary and pick objects out of the result."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from modelserve_cluster.binaries import cached_binaries

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART = REPO_ROOT / "charts" / "modelserve"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
# The cluster the chart is rendered for: `helm template` cannot ask a cluster, and a
# locally built helm assumes v1.20, which the chart's kubeVersion (>=1.25) refuses.
KUBE_VERSION = "1.36.3"
RELEASE = "ms"
RELEASE_NAMESPACE = "modelserve-system"


def helm_binary() -> Path:
    """The helm the project builds (hack/setup.sh), else one on PATH; a clear failure if none."""
    bin_dir = cached_binaries()
    if bin_dir is not None and (bin_dir / "helm").exists():
        return bin_dir / "helm"
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    pytest.fail("no helm binary: run hack/setup.sh (it builds helm into ~/.cache/modelserve)")


def promtool_binary() -> Path:
    """Debian's promtool; a clear failure if it is missing."""
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool not found: apt-get install prometheus (hack/setup.sh installs it)")
    return Path(found)


def run_helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(helm_binary()), *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{result.stderr}")
    return result


def template_args(values_files: list[Path] = (), sets: list[str] = ()) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE]
    args += ["--kube-version", KUBE_VERSION]
    for path in values_files:
        args += ["--values", str(path)]
    for item in sets:
        args += ["--set", item]
    return args


def render(values_files: list[Path] = (), sets: list[str] = ()) -> list[dict[str, Any]]:
    """The objects `helm template` renders (CRDs not included, as with `helm template`)."""
    out = run_helm(*template_args(values_files, sets)).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def objects_of(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = objects_of(objects, kind)
    assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
    return found[0]
