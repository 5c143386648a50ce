"""The walk-through on kind: `hack/kind.sh` on a node image built here prints a prediction.

kind itself makes the cluster (from kind-config.yaml, with the node image hack/kind/build.sh
makes from Debian packages and Go modules), `kind load docker-image` loads the images of
this tree, and hack/walkthrough.py installs the chart and serves the first example, as a
user with Docker and kind runs it. The cluster has a name of its own and is deleted after.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from walkthrough_output import assert_prints_the_models_prediction

pytestmark = [pytest.mark.kind, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
CLUSTER = "modelserve-e2e-kind"
OPERATOR_NAMESPACE = "modelserve-system"


# A kubeconfig of the user's own, exported as the quickstart's next steps say: kind must
# leave it alone.
USERS_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:16443"}}]
users: [{name: me, user: {}}]
contexts: [{name: local, context: {cluster: local, user: me}}]
current-context: local
"""


def _kind_env(kubeconfig: Path, users_kubeconfig: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KIND_LOCAL_NODE_IMAGE="1",  # no registry here: kind and its node image built locally
        KIND_SKIP_IMAGE_BUILD="1",  # app_images built this tree's images already
        KIND_CLUSTER_NAME=CLUSTER,
        KIND_KUBECONFIG=str(kubeconfig),
        KUBECONFIG=str(users_kubeconfig),
    )
    return env


@pytest.fixture(scope="module")
def users_kubeconfig(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("user") / "config"
    path.write_text(USERS_KUBECONFIG)
    return path


@pytest.fixture(scope="module")
def kind_walkthrough(
    app_images: dict[str, str], users_kubeconfig: Path, tmp_path_factory
) -> Iterator[tuple[str, Path]]:
    """What `hack/kind.sh` printed, and the cluster's kubeconfig; the cluster is deleted after."""
    kubeconfig = tmp_path_factory.mktemp("kind") / "kubeconfig"
    env = _kind_env(kubeconfig, users_kubeconfig)
    script = str(REPO / "hack" / "kind.sh")
    # A cluster left by an interrupted run would be reused with whatever it held.
    subprocess.run([script, "down"], env=env, capture_output=True, text=True, timeout=300)
    try:
        result = subprocess.run([script], env=env, capture_output=True, text=True, timeout=1700)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"hack/kind.sh failed:\n{output}"
        yield output, kubeconfig
    finally:
        subprocess.run([script, "down"], env=env, capture_output=True, text=True, timeout=300)


def _kubectl(kubeconfig: Path, *args: str) -> dict:
    kubectl = Path(
        subprocess.run(
            [str(REPO / "cluster" / "build-binaries.sh"), "--print-dir"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip(),
        "kubectl",
    )
    out = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", *args, "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def test_kind_walkthrough_prints_the_models_prediction(kind_walkthrough) -> None:
    output, _ = kind_walkthrough
    assert_prints_the_models_prediction(output)


def test_kind_nodes_run_the_node_image_built_here(kind_walkthrough) -> None:
    _, kubeconfig = kind_walkthrough
    nodes = _kubectl(kubeconfig, "get", "nodes")["items"]
    names = sorted(n["metadata"]["name"] for n in nodes)
    # kind-config.yaml: one control plane and one worker, named after the cluster.
    assert names == [f"{CLUSTER}-control-plane", f"{CLUSTER}-worker"]
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", node["status"]["conditions"]
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.3"
    # The nodes are Docker containers of the image hack/kind/build.sh made.
    image = subprocess.run(
        [str(REPO / "hack" / "kind" / "build.sh"), "--print-image"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for name in names:
        used = subprocess.run(
            ["docker", "inspect", "--format", "{{.Config.Image}}", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert used == image


def test_kind_runs_the_operator_from_this_trees_image(kind_walkthrough, app_images) -> None:
    _, kubeconfig = kind_walkthrough
    pods = _kubectl(kubeconfig, "get", "pods", "-n", OPERATOR_NAMESPACE)["items"]
    assert pods
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {
        app_images["modelserve/operator"]
    }
    assert {p["status"]["phase"] for p in pods} == {"Running"}


def test_kind_leaves_the_kubeconfig_the_user_exported_alone(
    kind_walkthrough, users_kubeconfig: Path
) -> None:
    assert users_kubeconfig.read_text() == USERS_KUBECONFIG
