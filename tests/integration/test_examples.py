"""What the examples' READMEs cannot show: details of the children and the health verdicts.

tests/e2e/test_readmes.py runs every README as written on kind; here, on KWOK
nodes with the in-process operator, the autoscaling example's HPA in detail, the gitops
directory's kstatus verdicts and the lifecycle example's first steps.

Each example's Model files carry a placeholder digest (the README registers the file with
`modelserve model register`, which computes the real one). Here the test does what that
command does: it stores a freshly trained artifact in the ConfigMap the Model's URI names
and applies the Model with the artifact's real sha256. Every other file is applied as is.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
import yaml
from cluster_objects import condition, get
from kstatus import kstatus, kstatus_verdict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLACEHOLDER_DIGEST = "0" * 64
READY_TIMEOUT_S = 120.0


@pytest.fixture
def artifact(iris_artifact: bytes) -> bytes:
    """The model the tests register for every example (see tests/integration/conftest.py)."""
    return iris_artifact


def apply_file(cluster, namespace: str, path: Path) -> None:
    """`kubectl apply -f <example file>`, the file unchanged."""
    cluster.kubectl("apply", "-n", namespace, "-f", str(path))


def register_models(cluster, namespace: str, documents: list[dict], artifact: bytes) -> list[str]:
    """What `modelserve model register` does for each Model document; returns their names.

    The example must follow the convention its README documents: a configmap:// URI and
    the placeholder digest (a real-looking digest would be a file nobody can reproduce).
    """
    names = []
    for model in (d for d in documents if d["kind"] == "Model"):
        name = model["metadata"]["name"]
        uri = model["spec"]["artifact"]["uri"]
        assert uri.startswith("configmap://"), f"{name}: artifact URI {uri!r} is not configmap://"
        config_map, key = uri.removeprefix("configmap://").split("/", 1)
        assert model["spec"]["artifact"]["sha256"] == PLACEHOLDER_DIGEST, f"{name}: digest"
        registered = json.loads(json.dumps(model))
        registered["spec"]["artifact"]["sha256"] = hashlib.sha256(artifact).hexdigest()
        stored = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": config_map},
            "binaryData": {key: base64.b64encode(artifact).decode()},
        }
        cluster.kubectl(
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
            input_text=yaml.safe_dump_all([stored, registered]),
        )
        names.append(name)
    assert names, "the example has no Model"
    return names


def register_file(cluster, namespace: str, path: Path, artifact: bytes) -> list[str]:
    return register_models(cluster, namespace, list(yaml.safe_load_all(path.read_text())), artifact)


def wait_current(cluster, namespace: str, kind: str, name: str, check=None) -> dict:
    """Poll until the object's status is of its current generation, Ready, and passes `check`."""
    seen: dict = {}

    def done() -> dict | None:
        obj = get(cluster, namespace, kind, name)
        seen["status"] = (obj or {}).get("status")
        if (
            obj is None
            or obj.get("status", {}).get("observedGeneration") != (obj["metadata"]["generation"])
        ):
            return None
        if condition(obj, "Ready").get("status") != "True":
            return None
        return obj if check is None or check(obj) else None

    try:
        return cluster.wait_for(done, f"{kind} {name} Ready", READY_TIMEOUT_S)
    except BaseException:
        print("last status:", json.dumps(seen.get("status"), indent=1))
        print(cluster.kubectl("get", "deploy,rs,pods,hpa", "-n", namespace, "-o", "wide").stdout)
        raise


def test_autoscaling_makes_an_hpa_with_the_examples_bounds(cluster, namespace, operator, artifact):
    folder = EXAMPLES / "autoscaling"
    register_file(cluster, namespace, folder / "model.yaml", artifact)
    apply_file(cluster, namespace, folder / "endpoint.yaml")
    endpoint = wait_current(cluster, namespace, "onlineendpoint", "demand")
    assert endpoint["status"]["deployments"][0]["modelVersion"] == "1"  # "latest" resolved
    hpa = get(cluster, namespace, "hpa", "demand-main")
    assert hpa is not None, "the autoscaled deployment has no HorizontalPodAutoscaler"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "demand-main"
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    container = get(cluster, namespace, "deployment", "demand-main")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["resources"]["requests"]["cpu"] == "200m"


def test_gitops_directory_reports_kstatus_current_in_progress_and_failed(
    cluster, namespace, operator, artifact
):
    folder = EXAMPLES / "gitops"
    rendered = cluster.kubectl("kustomize", str(folder)).stdout
    documents = list(yaml.safe_load_all(rendered))
    assert {d["kind"] for d in documents} == {"Model", "OnlineEndpoint"}
    register_models(cluster, namespace, documents, artifact)
    others = [d for d in documents if d["kind"] != "Model"]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump_all(others))

    # Synced and healthy: what Flux and `kpt live status` call Current.
    for kind, name in (("model", "sentiment-1"), ("onlineendpoint", "sentiment")):
        obj = wait_current(cluster, namespace, kind, name)
        assert kstatus(obj) == "Current", obj["status"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "sentiment"

    # A commit lands while nothing has reconciled it yet: InProgress, not a stale Current.
    operator.stop()
    cluster.kubectl(
        "patch",
        "onlineendpoint",
        "sentiment",
        "-n",
        namespace,
        "--type",
        "json",
        "-p",
        '[{"op": "replace", "path": "/spec/deployments/0/instanceCount", "value": 3}]',
    )
    pending = get(cluster, namespace, "onlineendpoint", "sentiment")
    assert condition(pending, "Ready")["status"] == "True"  # Ready alone would mislead
    assert kstatus(pending) == "InProgress"
    operator.start()
    caught_up = wait_current(
        cluster,
        namespace,
        "onlineendpoint",
        "sentiment",
        lambda e: e["status"]["deployments"][0]["readyReplicas"] == 3,
    )
    assert kstatus(caught_up) == "Current"

    # The Model committed with the placeholder digest is refused: Failed, with the reason.
    unregistered = next(d for d in documents if d["kind"] == "Model")
    unregistered = json.loads(json.dumps(unregistered))
    unregistered["metadata"]["name"] = "sentiment-2"
    unregistered["spec"]["version"] = "2"
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump(unregistered))
    failed = cluster.wait_for(
        lambda: (
            (m := get(cluster, namespace, "model", "sentiment-2")) and kstatus(m) == "Failed" and m
        ),
        "Model sentiment-2 Failed",
        READY_TIMEOUT_S,
    )
    assert condition(failed, "Ready")["reason"] == "DigestMismatch"
    assert condition(failed, "Stalled")["status"] == "True"
    # What Argo CD or Flux shows next to the object: the operator's reason, as written.
    _, message = kstatus_verdict(failed)
    assert message == condition(failed, "Stalled")["message"], message


def test_lifecycle_trains_version_1_and_watches_the_endpoint(cluster, namespace, operator):
    folder = EXAMPLES / "lifecycle"
    for name in ("claim.yaml", "model.yaml", "endpoint.yaml"):
        apply_file(cluster, namespace, folder / name)
    # Version 1 trains in a Job (on the simulated nodes it cannot finish: the e2e tier,
    # tests/e2e/test_lifecycle_e2e.py, runs the whole loop on real pods).
    job = cluster.wait_for(lambda: get(cluster, namespace, "job", "iris-1-train"), "the Job")
    assert job["metadata"]["ownerReferences"][0]["name"] == "iris-1"
    endpoint = cluster.wait_for(
        lambda: (
            (e := get(cluster, namespace, "onlineendpoint", "iris"))
            and condition(e, "DataDrift").get("reason") == "NotJudged"
            and e
        ),
        "the endpoint's first monitoring check",
    )
    assert condition(endpoint, "PerformanceDegraded")["status"] == "Unknown"
    retrain = endpoint["spec"]["monitoring"]["retrain"]
    assert (retrain["promotion"], retrain["steps"]) == ("auto", [10, 50, 100])
    assert retrain["template"]["split"] == {  # the API server filled in the defaults
        "train": 0.7,
        "validation": 0.15,
        "test": 0.15,
        "seed": 42,
        "stratify": True,
    }


def test_every_example_folder_has_a_readme_naming_its_files():
    # tests/e2e/test_readmes.py runs every folder's README; this keeps each file explained.
    folders = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())
    assert len(folders) >= 7
    for folder in folders:
        readme = folder / "README.md"
        assert readme.is_file(), f"{folder.name} has no README.md"
        text = readme.read_text()
        for manifest in sorted(folder.glob("*.yaml")):
            assert manifest.name in text, f"{folder.name}/README.md never mentions {manifest.name}"
