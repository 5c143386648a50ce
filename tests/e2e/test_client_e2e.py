"""The `modelserve` CLI against real pods: register onto a claim, invoke, read the logs.

One endpoint on the real node serves the whole module. The model is copied onto a
PersistentVolumeClaim by the CLI's upload pod, so the scoring pod that verifies and
serves it also proves the bytes arrived intact.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import joblib
import pytest
import yaml
from e2e_target import NODE_NAME, host_volume_dir
from modelserve_client import Endpoint, Kube
from modelserve_client.cli import main
from modelserve_client.waiting import readiness
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

# Scoring pods verify, load and warm a model up; on a busy two-core machine that is slow.
POD_START_S = 300.0
ON_REAL_NODE = f"kubernetes.io/hostname={NODE_NAME}"


@dataclass
class Site:
    """The namespace the operator watches, its model file and its claim's directory."""

    cluster: object
    namespace: str
    model_file: Path
    claim_dir: Path
    rows: list[list[float]]
    expected: list[int]

    def cli(self, capsys, *argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([*argv, "-n", self.namespace, "--kubeconfig", str(self.cluster.kubeconfig)])
        out, err = capsys.readouterr()
        return code, out, err


def wait_for(check, what: str, timeout: float):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}")


@pytest.fixture(scope="module")
def site(cluster, node, operator_factory, tmp_path_factory) -> Iterator[Site]:
    """A namespace with the operator (pods on the real node) and a claim on a host directory."""
    namespace = f"client-e2e-{uuid.uuid4().hex[:6]}"
    claim_dir = host_volume_dir(f"modelserve-client-e2e-{namespace}-")
    # hostPath volumes ignore fsGroup; the upload pod's uid must be able to write here.
    os.chmod(claim_dir, 0o777)
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": namespace},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "",
            "hostPath": {"path": str(claim_dir)},
            "claimRef": {"namespace": namespace, "name": "models"},
        },
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "models", "namespace": namespace},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "",
            "volumeName": namespace,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    x, y = load_iris(return_X_y=True)
    estimator = LogisticRegression(max_iter=1000).fit(x, y)
    rows = x[::15].tolist()
    model_file = tmp_path_factory.mktemp("client-e2e") / "model.joblib"
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    model_file.write_bytes(buffer.getvalue())

    cluster.kubectl("create", "namespace", namespace)
    monkeypatch = pytest.MonkeyPatch()
    operator = operator_factory(namespace, monkeypatch, {"MODELSERVE_NODE_SELECTOR": ON_REAL_NODE})
    try:
        wait_for(
            lambda: (
                cluster.kubectl(
                    "get", "serviceaccount", "default", "-n", namespace, check=False
                ).returncode
                == 0
            ),
            "the default ServiceAccount",
            60,
        )
        cluster.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all([volume, claim]))
        operator.start()
        yield Site(
            cluster, namespace, model_file, claim_dir, rows, estimator.predict(rows).tolist()
        )
    finally:
        operator.delete_objects_and_stop()
        monkeypatch.undo()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")
        cluster.kubectl("delete", "pv", namespace, "--wait=false", "--ignore-not-found")
        shutil.rmtree(claim_dir, ignore_errors=True)


def test_register_on_a_claim_then_invoke_and_read_the_logs(site: Site, capsys, tmp_path):
    code, out, err = site.cli(
        capsys, "model", "register", str(site.model_file), "--name", "iris", "--version", "1",
        "--pvc", "models", "--node-selector", ON_REAL_NODE, "--wait",
    )  # fmt: skip
    assert code == 0, err
    assert "copied model.joblib to pvc://models/models/iris/1/model.joblib" in err
    assert "uploading model.joblib: 100%" in err
    assert out.startswith(f"Model iris-1 in namespace {site.namespace}: iris version 1, pvc://")
    stored = site.claim_dir / "models" / "iris" / "1" / "model.joblib"
    assert stored.read_bytes() == site.model_file.read_bytes()
    # The upload pod is gone once the file is in place.
    pods = site.cluster.kubectl("get", "pods", "-n", site.namespace, "-o", "name").stdout
    assert "modelserve-upload" not in pods

    endpoint = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "iris"},
        "spec": {
            "authMode": "key",
            "traffic": {"blue": 100},
            "deployments": [
                {
                    "name": "blue",
                    "model": {"name": "iris", "version": "1"},
                    "instanceCount": 1,
                    "resources": {"requests": {"cpu": "50m", "memory": "192Mi"}},
                }
            ],
        },
    }
    site.cluster.kubectl(
        "apply", "-n", site.namespace, "-f", "-", input_text=yaml.safe_dump(endpoint)
    )
    handle = Endpoint("iris", site.namespace, Kube.connect(str(site.cluster.kubeconfig)))
    wait_for(lambda: readiness(handle.get())[0] == "ready", "endpoint iris Ready", POD_START_S)

    request = tmp_path / "request.json"
    request.write_text(json.dumps({"data": site.rows}))
    code, out, err = site.cli(capsys, "endpoint", "invoke", "iris", "--data", str(request))
    assert code == 0, err
    assert json.loads(out) == site.expected
    assert "HTTP 200 from deployment blue" in err

    code, out, err = site.cli(
        capsys, "endpoint", "invoke", "iris", "--data", str(request), "--deployment", "blue"
    )
    assert code == 0 and json.loads(out) == site.expected, err
    code, _, err = site.cli(
        capsys, "endpoint", "invoke", "iris", "--data", str(request), "--deployment", "green"
    )
    assert code == 1 and "endpoint 'iris' has no deployment 'green' (it has: blue)" in err

    # Two features for a four-feature model: the scoring server's refusal reaches the user.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": [[1.0, 2.0]]}))
    code, _, err = site.cli(capsys, "endpoint", "invoke", "iris", "--data", str(bad))
    assert code == 1 and "endpoint 'iris' answered HTTP 400 from deployment blue: " in err, err

    # The same through the Python API.
    assert handle.invoke({"data": site.rows}).json() == site.expected

    code, out, err = site.cli(capsys, "endpoint", "logs", "iris", "--deployment", "blue")
    assert code == 0, err
    assert out.startswith("==> pod iris-blue-") and "(deployment blue) <==" in out
    assert "model iris version 1 is ready" in out
    code, out, err = site.cli(capsys, "endpoint", "logs", "iris", "--container", "fetch-model")
    assert code == 0, err
    assert "models/iris/1/model.joblib" in out and "(sha256 verified)" in out
