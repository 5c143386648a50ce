"""The custom-script example beyond what its README shows: exact confidences, refused routes.

tests/e2e/test_readmes.py runs the README itself (species names through the CLI). As in
tests/integration/test_examples.py, the test registers a freshly trained model the way
`modelserve model register` does (ConfigMap named by the example's configmap:// URI,
Model with the real sha256) and applies every other file of the example unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest
import yaml
from cluster_objects import condition
from e2e_target import NODE_NAME
from endpoint_traffic import EndpointClient
from namespace_site import NamespaceSite
from polling import wait_for
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPECIES = ("setosa", "versicolor", "virginica")
# Pods start Python with scikit-learn on two busy cores.
POD_START_S = 300.0


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
