"""The examples that need real pods: a custom scoring script's answer, a batch run's output.

As in tests/integration/test_examples.py, the test registers a freshly trained model the
way `modelserve model register` does (ConfigMap named by the example's configmap:// URI,
Model with the real sha256) and applies every other file of the example unchanged.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import yaml
from cluster_objects import condition
from endpoint_traffic import EndpointClient
from modelserve_cluster.node.layout import NODE_NAME
from namespace_site import NamespaceSite
from polling import wait_for
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPECIES = ("setosa", "versicolor", "virginica")
# The image's user (Dockerfile APP_UID): the batch run writes its output as this user.
POD_UID = 65532
# Pods start Python with scikit-learn on two busy cores.
POD_START_S = 300.0
RUN_TIMEOUT_S = 600.0


@pytest.fixture(scope="module")
def classifier() -> LogisticRegression:
    """An iris classifier fit on the class ids 0, 1, 2, as the examples' READMEs train it."""
    x, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(x, y)


class Site(NamespaceSite):
    """The namespace the operator watches, through the cluster's kubectl."""

    def register(self, model_file: Path, estimator: Any) -> str:
        """What `modelserve model register` does for the example's one Model; returns its name."""
        (model,) = [d for d in yaml.safe_load_all(model_file.read_text()) if d["kind"] == "Model"]
        buffer = io.BytesIO()
        joblib.dump(estimator, buffer)
        artifact = buffer.getvalue()
        config_map, key = model["spec"]["artifact"]["uri"].removeprefix("configmap://").split("/")
        model["spec"]["artifact"]["sha256"] = hashlib.sha256(artifact).hexdigest()
        stored = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": config_map},
            "binaryData": {key: base64.b64encode(artifact).decode()},
        }
        self.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all([stored, model]))
        name = model["metadata"]["name"]
        wait_for(
            lambda: condition(self.get("model", name), "Ready").get("status") == "True",
            f"Model {name} Ready",
            timeout=120,
        )
        return name

    def explain(self) -> None:
        """Print what a user would look at when an example does not come up."""
        print(self.kubectl("get", "oe,bd,deploy,jobs,pods,pvc", "-o", "wide", check=False).stdout)
        for pod in json.loads(self.kubectl("get", "pods", "-o", "json").stdout)["items"]:
            name = pod["metadata"]["name"]
            logs = self.kubectl("logs", name, "--all-containers", "--tail=20", check=False)
            print(f"--- {name}\n{logs.stdout}{logs.stderr}")


@pytest.fixture
def site(cluster, node, namespace: str, operator_factory, monkeypatch) -> Iterator[Site]:
    """The operator in-process, every pod it makes pinned to the real node."""
    operator = operator_factory(
        namespace, monkeypatch, {"MODELSERVE_NODE_SELECTOR": f"kubernetes.io/hostname={NODE_NAME}"}
    )
    operator.start()
    try:
        yield Site(cluster, namespace)
    finally:
        operator.delete_objects_and_stop()


def test_custom_script_answers_with_species_names_and_confidence(site: Site, classifier):
    folder = EXAMPLES / "custom-script"
    site.register(folder / "model.yaml", classifier)
    site.kubectl("apply", "-k", str(folder))
    try:
        wait_for(
            lambda: (
                (e := site.get("onlineendpoint", "flowers"))
                and e["status"].get("observedGeneration") == e["metadata"]["generation"]
                and condition(e, "Ready").get("status") == "True"
            ),
            "endpoint flowers Ready",
            POD_START_S,
        )
    except BaseException:
        site.explain()
        raise
    secret = site.get("secret", "flowers-keys")
    key = base64.b64decode(secret["data"]["primaryKey"]).decode()
    client = EndpointClient(site.get("service", "flowers")["spec"]["clusterIP"], key, "flowers")
    x, _ = load_iris(return_X_y=True)
    rows = x[[0, 75, 149]].tolist()

    # A replaced router pod may still answer for a moment; the first 200 is the answer.
    response = wait_for(
        lambda: (r := client.score(rows)).status_code == 200 and r, "POST /score -> 200", 120
    )
    answer = response.json()
    assert list(answer) == ["predictions"]
    expected = [SPECIES[i] for i in classifier.predict(rows)]
    assert [p["species"] for p in answer["predictions"]] == expected
    confidence = classifier.predict_proba(rows).max(axis=1)
    assert [p["confidence"] for p in answer["predictions"]] == pytest.approx(confidence, abs=1e-4)
    # A script serves /score only: the protocol routes say so instead of guessing.
    assert client.infer(rows).status_code == 400
    assert client.score(rows, headers={}).status_code == 401


@pytest.fixture
def claims(cluster, node, namespace: str) -> Iterator[dict[str, Path]]:
    """Local volumes on the real node's disk, pre-bound to the claims of claims.yaml.

    The example's claims ask the cluster's default StorageClass; this cluster has none,
    so a PersistentVolume waits for each by name (claimRef), as an admin would provide.
    """
    root = Path(tempfile.mkdtemp(prefix="modelserve-examples-e2e-"))
    root.chmod(0o755)  # mkdtemp makes it private to root; the pods' user must reach in
    claim_names = [
        d["metadata"]["name"]
        for d in yaml.safe_load_all((EXAMPLES / "batch-run" / "claims.yaml").read_text())
    ]
    directories = {}
    for claim in claim_names:
        directory = root / claim
        directory.mkdir(mode=0o755)
        # Kubelets apply fsGroup to no local volume: owning the directory works everywhere.
        os.chown(directory, POD_UID, POD_UID)
        directories[claim] = directory
        node_term = {
            "matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE_NAME]}
            ]
        }
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"{namespace}-{claim}"[:63]},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "local": {"path": str(directory)},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [node_term]}},
                "claimRef": {"namespace": namespace, "name": claim},
            },
        }
        cluster.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(volume))
    try:
        yield directories
    finally:
        cluster.kubectl("delete", "pvc", *claim_names, "-n", namespace, "--wait=false")
        for claim in claim_names:
            volume_name = f"{namespace}-{claim}"[:63]
            cluster.kubectl("delete", "pv", volume_name, "--wait=false", "--ignore-not-found")
        shutil.rmtree(root)


# `claims` before `site`: the operator deletes the run's objects before the volumes go.
def test_batch_run_scores_every_csv_into_one_predictions_file(
    claims: dict[str, Path], site: Site, classifier
):
    folder = EXAMPLES / "batch-run"
    site.kubectl("apply", "-f", str(folder / "claims.yaml"))
    wait_for(
        lambda: all(
            (site.get("pvc", claim) or {}).get("status", {}).get("phase") == "Bound"
            for claim in claims
        ),
        "the example's claims Bound",
        60,
    )
    # What the README's loader pod copies onto the input claim: CSV exports, one not CSV.
    x, _ = load_iris(return_X_y=True)
    rng = np.random.default_rng(7)
    exports = claims["species-input"] / "exports"
    exports.mkdir()
    expected = []
    for number in range(10):
        rows = x[rng.integers(0, len(x), size=int(rng.integers(1, 8)))]
        name = f"exports/day-{number:02d}.csv"
        np.savetxt(claims["species-input"] / name, rows, delimiter=",", fmt="%.1f")
        expected += [(name, row, str(label)) for row, label in enumerate(classifier.predict(rows))]
    (exports / "README.txt").write_text("not an export: the glob leaves it out\n")

    site.register(folder / "model.yaml", classifier)
    site.kubectl("apply", "-f", str(folder / "batch-deployment.yaml"))

    def finished() -> dict | None:
        batch = site.get("batchdeployment", "species-nightly")
        runs = (batch or {}).get("status", {}).get("runs") or []
        return batch if runs and runs[-1].get("result") in ("Succeeded", "Failed") else None

    try:
        done = wait_for(finished, "the run of species-nightly to end", RUN_TIMEOUT_S, 2.0)
        assert done["status"]["runs"][-1]["result"] == "Succeeded", condition(done, "Ready")
    except BaseException:
        site.explain()
        raise
    run = done["status"]["runs"][-1]
    assert run["files"] == 10
    assert run["miniBatchesSucceeded"] == 3  # 10 files, 4 per mini-batch
    assert run["rowsScored"] == len(expected)
    assert run["outputPath"] == f"predictions/{run['id']}/predictions.csv"
    with (claims["species-output"] / run["outputPath"]).open(newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["file", "row", "prediction"]
        written = [(name, int(row), label) for name, row, label in reader]
    assert written == expected
