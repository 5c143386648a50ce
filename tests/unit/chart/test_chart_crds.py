"""The chart's crds/ are byte-identical copies of the top-level crds/ (hack/sync-chart-crds.sh)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from chart_helpers import CHART, REPO_ROOT

SYNC = REPO_ROOT / "hack" / "sync-chart-crds.sh"


def test_chart_crds_are_byte_identical_copies():
    sources = {p.name: p.read_bytes() for p in (REPO_ROOT / "crds").glob("*.yaml")}
    copies = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert sources, "no CRDs in crds/"
    assert sorted(copies) == sorted(sources), "run hack/sync-chart-crds.sh"
    for name, content in sources.items():
        assert copies[name] == content, f"charts/modelserve/crds/{name} differs: run {SYNC}"


def sandbox(tmp_path: Path) -> Path:
    """A copy of the script with its own crds/ and chart, so the test edits no real file."""
    (tmp_path / "hack").mkdir()
    shutil.copy2(SYNC, tmp_path / "hack" / SYNC.name)
    shutil.copytree(REPO_ROOT / "crds", tmp_path / "crds")
    (tmp_path / "charts" / "modelserve" / "crds").mkdir(parents=True)
    return tmp_path / "hack" / SYNC.name


def run(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True)


def test_sync_script_copies_reports_and_removes_stale_copies(tmp_path: Path):
    script = sandbox(tmp_path)
    chart_crds = tmp_path / "charts" / "modelserve" / "crds"
    (chart_crds / "modelserve.io_retired.yaml").write_text("kind: CustomResourceDefinition\n")

    check = run(script, "--check")
    assert check.returncode == 1
    assert "out of date" in check.stderr
    assert "modelserve.io_retired.yaml (no longer in crds/)" in check.stderr

    assert run(script).returncode == 0
    assert sorted(p.name for p in chart_crds.iterdir()) == sorted(
        p.name for p in (tmp_path / "crds").iterdir()
    )
    assert run(script, "--check").returncode == 0

    edited = tmp_path / "crds" / "modelserve.io_models.yaml"
    edited.write_bytes(edited.read_bytes() + b"# edited\n")
    check = run(script, "--check")
    assert check.returncode == 1
    assert "modelserve.io_models.yaml" in check.stderr
