"""Every example README followed as written: its ```sh blocks run in order on kind.

How (examples/README.md, "How the READMEs are tested"): the operator is installed by Helm
the way the quickstart installs it (hack/walkthrough.py's installer); each README gets a
fresh namespace through the "Before you start" block of examples/README.md, runs in one
`bash -euo pipefail` from its own folder in a copy of examples/ and charts/, and every
```output block must match what its block printed. Cleanup blocks always run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_target import NODE_NAME
from readme_blocks import ShellBlock, output_matches, shell_blocks
from walkthrough_module import walkthrough

pytestmark = [pytest.mark.node, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
# Names the quickstart uses (hack/walkthrough.py's defaults), which the READMEs name too.
RELEASE, RELEASE_NAMESPACE = "modelserve", "modelserve-system"
QUICKSTART_NAMESPACE = "modelserve-quickstart"
# The namespace examples/README.md tells users to make; each README gets a fresh one.
PLACEHOLDER_NAMESPACE = "ml-examples"
SCRIPT_TIMEOUT_S = 1500


def example_readmes() -> list[Path]:
    return sorted(EXAMPLES.glob("*/README.md"))


@pytest.fixture(scope="module")
def operator_release(cluster, node) -> Iterator[str]:
    """The chart as the quickstart installs it: release `modelserve`, watching the quickstart's
    namespace, every pod pinned to the tier's worker node.

    A release that was there before (a quickstart's) is upgraded to the same values and
    left installed; one installed here is uninstalled at the end.
    """
    installer = walkthrough()
    tools = installer.Cluster(str(cluster.kubeconfig))
    status = subprocess.run(
        [
            tools.helm_bin,
            f"--kubeconfig={cluster.kubeconfig}",
            "status",
            RELEASE,
            "--namespace",
            RELEASE_NAMESPACE,
        ],
        capture_output=True,
        text=True,
    )
    installer.install_operator(tools, RELEASE, RELEASE_NAMESPACE, QUICKSTART_NAMESPACE, NODE_NAME)
    yield RELEASE
    if status.returncode != 0:
        tools.helm("uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait")


@dataclass
class Workspace:
    """A copy of examples/ and charts/, a kubeconfig of its own, and the PATH users set."""

    root: Path
    env: dict[str, str]
    namespace: str


def _user_path(cluster) -> str:
    """PATH as the quickstart's next steps set it (README.md).

    The venv first (`modelserve`, and `python3` with scikit-learn), then the cached kubectl
    and Helm, then the caller's PATH.
    """
    return f"{Path(sys.executable).parent}:{cluster.bin_dir}:{os.environ['PATH']}"


@pytest.fixture
def workspace(cluster, operator_release: str, tmp_path: Path) -> Workspace:
    root = tmp_path / "checkout"
    for folder in ("examples", "charts"):
        shutil.copytree(REPO / folder, root / folder)
    kubeconfig = tmp_path / "kubeconfig"
    shutil.copy(cluster.kubeconfig, kubeconfig)
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "PATH": _user_path(cluster),
        # Where the blocks' stdout goes (see _script).
        "README_OUTPUT_DIR": str(tmp_path / "output"),
    }
    (tmp_path / "output").mkdir()
    return Workspace(root, env, f"readme-{uuid.uuid4().hex[:6]}")


@dataclass(frozen=True)
class Step:
    """A block of one README, run from `folder`."""

    readme: Path
    folder: Path
    block: ShellBlock

    @property
    def where(self) -> str:
        return f"{self.readme.relative_to(REPO)}:{self.block.line}"


def _script(steps: list[Step], workspace: Workspace, errexit: bool) -> str:
    """One bash script: each block in braces, its stdout to a file of its own."""
    lines = [
        "set -uo pipefail" + (" -e" if errexit else ""),
        # A README may start a background job (a port-forward); it ends with the script.
        "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
    ]
    for number, step in enumerate(steps):
        script = step.block.script.replace(PLACEHOLDER_NAMESPACE, workspace.namespace)
        lines += [
            f'cd "{workspace.root / step.folder.relative_to(REPO)}"',
            f'echo "{number}" > "$README_OUTPUT_DIR/current"',
            # The clock on each block's marker shows where a slow README spends its time.
            f'echo "--- {step.where} at $(date +%T)" >&2',
            "{",
            script.rstrip("\n"),
            f'}} > "$README_OUTPUT_DIR/{number}.out"',
        ]
    return "\n".join(lines) + "\n"


def run_steps(
    steps: list[Step], workspace: Workspace, errexit: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", _script(steps, workspace, errexit)],
        env=workspace.env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def _quantity(value: str, unit: str) -> float:
    """A CPU quantity in millicores ("m") or a memory quantity in MiB ("Mi")."""
    if unit == "m":
        return float(value[:-1]) if value.endswith("m") else float(value) * 1000
    scale = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    suffix = next((s for s in scale if value.endswith(s)), "")
    return float(value.removesuffix(suffix)) * scale.get(suffix, 1 / 2**20)


def _requested(pod: dict) -> tuple[float, float]:
    """What a pod asks the scheduler for: the larger of its init containers and the rest."""
    spec = pod["spec"]

    def total(containers: list[dict], unit: str, resource: str) -> list[float]:
        asks = [(c.get("resources") or {}).get("requests", {}).get(resource) for c in containers]
        return [_quantity(a, unit) if a else 0.0 for a in asks]

    result = []
    for resource, unit in (("cpu", "m"), ("memory", "Mi")):
        inits = total(spec.get("initContainers") or [], unit, resource)
        result.append(max([sum(total(spec["containers"], unit, resource)), *inits]))
    return result[0], result[1]


class RequestSampler(threading.Thread):
    """The most CPU and memory the namespace's live pods asked for at once (every 2 s)."""

    def __init__(self, workspace: Workspace) -> None:
        super().__init__(daemon=True)
        self.workspace, self.peak, self.done = workspace, (0.0, 0.0), threading.Event()

    def run(self) -> None:
        while not self.done.wait(2.0):
            listed = subprocess.run(
                ["kubectl", "get", "pods", "--namespace", self.workspace.namespace, "-o", "json"],
                capture_output=True,
                text=True,
                env=self.workspace.env,
            )
            if listed.returncode != 0:
                continue
            pods = [
                p
                for p in json.loads(listed.stdout)["items"]
                if p["status"].get("phase") not in ("Succeeded", "Failed")
            ]
            asked = [_requested(p) for p in pods]
            now = (sum(a[0] for a in asked), sum(a[1] for a in asked))
            self.peak = (max(self.peak[0], now[0]), max(self.peak[1], now[1]))


def _printed(workspace: Workspace, number: int) -> str:
    path = Path(workspace.env["README_OUTPUT_DIR"]) / f"{number}.out"
    return path.read_text() if path.exists() else ""


def _steps(readme: Path, blocks: list[ShellBlock]) -> list[Step]:
    return [Step(readme, readme.parent, block) for block in blocks]


def _split(readme: Path) -> tuple[list[Step], list[Step]]:
    """The README's blocks to run, and its cleanup blocks."""
    blocks = [b for b in shell_blocks(readme.read_text()) if not b.skipped]
    cleanup = [b for b in blocks if b.cleanup]
    return _steps(readme, [b for b in blocks if not b.cleanup]), _steps(readme, cleanup)


def _plan(readme: Path) -> tuple[list[Step], list[Step]]:
    """What to run for one README: examples/README.md's namespace setup around its blocks."""
    index = EXAMPLES / "README.md"
    index_steps, index_cleanup = _split(index)
    steps, cleanup = _split(readme)
    if readme == index:
        return steps, cleanup
    setup = index_steps[0]
    assert f"kubectl create namespace {PLACEHOLDER_NAMESPACE}" in setup.block.script, (
        f"{setup.where} no longer makes the namespace {PLACEHOLDER_NAMESPACE}"
    )
    return [setup, *steps], [*cleanup, *index_cleanup]


def _failure(result: subprocess.CompletedProcess[str], steps: list[Step], workspace) -> str:
    current = Path(workspace.env["README_OUTPUT_DIR"]) / "current"
    number = int(current.read_text()) if current.exists() else 0
    step = steps[number]
    return (
        f"the block at {step.where} failed (exit {result.returncode}):\n"
        f"{step.block.script}\n--- its stdout:\n{_printed(workspace, number)}"
        f"--- stderr of the run (last 6000 characters):\n{result.stderr[-6000:]}"
    )


@pytest.mark.parametrize(
    "readme",
    [EXAMPLES / "README.md", *example_readmes()],
    ids=lambda p: str(p.parent.relative_to(REPO)),
)
def test_readme_works_when_followed_as_written(readme: Path, workspace: Workspace):
    steps, cleanup = _plan(readme)
    sampler = RequestSampler(workspace)
    sampler.start()
    try:
        result = run_steps(steps, workspace)
    finally:
        sampler.done.set()
    # For the "what the examples need" table of examples/README.md (pytest -s shows it).
    cpu, memory = sampler.peak
    print(f"{readme.parent.name}: peak requests {cpu:.0f}m CPU, {memory:.0f}Mi memory")
    try:
        assert result.returncode == 0, _failure(result, steps, workspace)
        for number, step in enumerate(steps):
            expected = step.block.expected_output
            printed = _printed(workspace, number)
            if expected is not None:
                assert output_matches(expected, printed), (
                    f"{step.where} printed something else than its ```output block.\n"
                    f"--- promised:\n{expected}--- printed:\n{printed}"
                )
    except BaseException:
        # Leave nothing behind for the next README (volumes, watched namespaces).
        run_steps(cleanup, workspace, errexit=False)
        raise
    cleaned = run_steps(cleanup, workspace)
    assert cleaned.returncode == 0, _failure(cleaned, cleanup, workspace)
