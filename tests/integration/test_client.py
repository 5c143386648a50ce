"""The `modelserve` CLI and Python API against the real API server, with the operator in-process.

Pods here land on the simulated (KWOK) nodes, so nothing is scored: registering, `show`,
batch runs (KWOK completes Jobs) and the errors a user meets. Invoking and logs need real
pods and live in tests/e2e/test_client_e2e.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import joblib
import pytest
import yaml
from cluster_objects import get
from modelserve_client import BatchDeployment, Endpoint, Kube, Model, SilentProgress
from modelserve_client.cli import main
from modelserve_client.waiting import readiness
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def iris_file(tmp_path_factory) -> Path:
    x, y = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), buffer)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def connection(cluster) -> Kube:
    return Kube.connect(str(cluster.kubeconfig))


def cli(cluster, capsys, *argv: str) -> tuple[int, str, str]:
    """Run `modelserve ...` in-process against the test cluster; (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([*argv, "--kubeconfig", str(cluster.kubeconfig)])
    out, err = capsys.readouterr()
    return code, out, err


def test_register_stores_the_file_in_a_configmap_and_the_model_becomes_ready(
    cluster, namespace, operator, iris_file, capsys
):
    code, out, err = cli(
        cluster, capsys, "model", "register", str(iris_file), "--name", "iris",
        "--version", "1", "-n", namespace, "--wait", "--timeout", "90",
    )  # fmt: skip
    assert code == 0, err
    digest = hashlib.sha256(iris_file.read_bytes()).hexdigest()
    assert f"sha256 {digest}" in err
    assert "waiting for Model iris-1 to be Ready" in err
    model = get(cluster, namespace, "model", "iris-1")
    ready = next(c for c in model["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    # What the operator said when it became Ready is what the user reads.
    assert out.splitlines() == [
        f"Model iris-1 in namespace {namespace}: iris version 1, "
        "configmap://iris-1-artifact/model.joblib",
        f"Ready: {ready['reason']}: {ready['message']}",
    ]
    assert f"{ready['reason']}: {ready['message']}" in err
    assert model["spec"]["artifact"] == {
        "uri": "configmap://iris-1-artifact/model.joblib",
        "sha256": digest,
    }
    assert model["spec"]["modelName"] == "iris" and model["spec"]["version"] == "1"
    config_map = get(cluster, namespace, "configmap", "iris-1-artifact")
    assert base64.b64decode(config_map["binaryData"]["model.joblib"]) == iris_file.read_bytes()
    # The artifact goes with its Model.
    assert config_map["metadata"]["ownerReferences"][0]["uid"] == model["metadata"]["uid"]

    # The same file again changes nothing; another file under the same version is refused.
    code, _, err = cli(
        cluster, capsys, "model", "register", str(iris_file), "--name", "iris",
        "--version", "1", "-n", namespace,
    )  # fmt: skip
    assert code == 0 and "already registered as Model iris-1 with this file" in err
    other = iris_file.parent / "other.joblib"
    other.write_bytes(iris_file.read_bytes() + b"\0")
    code, _, err = cli(
        cluster, capsys, "model", "register", str(other), "--name", "iris",
        "--version", "1", "-n", namespace,
    )  # fmt: skip
    assert code == 1
    assert "iris version 1 is already registered (Model iris-1) with a different file" in err
    assert "register the new file as a new --version" in err
    assert (
        get(cluster, namespace, "configmap", "iris-1-artifact")["binaryData"]
        == config_map["binaryData"]
    )


def test_show_summarises_an_endpoint_the_operator_reconciled(
    cluster, namespace, operator, iris_file, connection, capsys
):
    Model.register(
        iris_file, name="iris", version="1", namespace=namespace, wait=True, timeout=90,
        connection=connection, progress=SilentProgress(),
    )  # fmt: skip
    endpoint = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "iris"},
        "spec": {
            "authMode": "key",
            "traffic": {"blue": 100},
            "deployments": [
                {"name": "blue", "model": {"name": "iris", "version": "latest"}, "instanceCount": 2}
            ],
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump(endpoint))
    handle = Endpoint("iris", namespace, connection)
    cluster.wait_for(lambda: readiness(handle.get())[0] == "ready", "endpoint iris Ready", 90)

    code, out, err = cli(cluster, capsys, "endpoint", "show", "iris", "-n", namespace)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"OnlineEndpoint iris (namespace {namespace})"
    assert f"scoringUri:  http://iris.{namespace}.svc.cluster.local/score" in out
    ready = next(line.split() for line in lines if line.strip().startswith("Ready "))
    assert ready[:2] == ["Ready", "True"]
    traffic = lines.index("Traffic (requested -> applied):")
    assert lines[traffic + 2].split() == ["blue", "100%", "100%"]
    deployments = lines.index("Deployments:")
    assert lines[deployments + 2].split() == ["blue", "iris", "latest", "1", "2/2", "ready"]


def test_batch_run_sets_the_annotation_and_follows_the_new_run_to_its_end(
    cluster, namespace, operator, batch_claims, iris_file, connection, capsys
):
    Model.register(
        iris_file, name="iris", version="1", namespace=namespace, wait=True, timeout=90,
        connection=connection, progress=SilentProgress(),
    )  # fmt: skip
    batch = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "BatchDeployment",
        "metadata": {"name": "nightly"},
        "spec": {
            "model": {"name": "iris", "version": "1"},
            "input": {"claimName": "raw", "glob": "*.csv"},
            "output": {"claimName": "scored", "path": "predictions"},
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump(batch))
    handle = BatchDeployment("nightly", namespace, connection)
    # The run a new BatchDeployment starts by itself; the simulated nodes complete it.
    first = cluster.wait_for(
        lambda: [r for r in handle.runs() if r.get("result") == "Succeeded"],
        "the first run of nightly to succeed",
        90,
    )[0]

    code, out, err = cli(
        cluster, capsys, "batch", "run", "nightly", "-n", namespace, "--wait", "--timeout", "120"
    )
    assert code == 0, err
    runs = handle.runs()
    assert len(runs) == 2 and runs[0]["id"] == first["id"]
    second = runs[1]
    assert second["id"] != first["id"] and second["result"] == "Succeeded"
    assert out.startswith(f"run {second['id']}: Succeeded")
    assert f"output predictions/{second['id']}/predictions.csv" in out
    annotations = get(cluster, namespace, "batchdeployment", "nightly")["metadata"]["annotations"]
    request = annotations["modelserve.io/run"]
    assert f"requested a run of nightly (modelserve.io/run={request})" in err

    # Without --wait the request is made and the command returns; the run follows.
    code, out, _ = cli(cluster, capsys, "batch", "run", "nightly", "-n", namespace)
    assert code == 0 and out.startswith("run requested: ")
    cluster.wait_for(lambda: len(handle.runs()) == 3, "a third run of nightly", 60)


def test_errors_name_the_missing_thing_and_what_to_do(cluster, crds, namespace, iris_file, capsys):
    code, out, err = cli(cluster, capsys, "endpoint", "show", "nope", "-n", namespace)
    assert (code, out) == (1, "")
    assert (
        f"error: OnlineEndpoint 'nope' does not exist in namespace '{namespace}' "
        "(endpoints there: none)"
    ) in err
    assert "what to do: check the name, or pass --namespace" in err

    for argv in (
        ["endpoint", "show", "iris"],
        ["endpoint", "logs", "iris"],
        ["batch", "run", "nightly"],
        ["model", "register", str(iris_file), "--name", "iris", "--version", "1"],
    ):
        code, _, err = cli(cluster, capsys, *argv, "-n", "no-such-namespace-4b1c")
        assert code == 1, argv
        assert "error: namespace 'no-such-namespace-4b1c' does not exist" in err, (argv, err)
        assert "kubectl create namespace no-such-namespace-4b1c" in err

    code, _, err = cli(
        cluster, capsys, "model", "register", str(iris_file.parent / "gone.joblib"),
        "--name", "iris", "--version", "1", "-n", namespace,
    )  # fmt: skip
    assert code == 1 and "gone.joblib' does not exist" in err

    code, _, err = cli(cluster, capsys, "batch", "run", "nightly", "-n", namespace)
    assert code == 1
    assert f"BatchDeployment 'nightly' does not exist in namespace '{namespace}'" in err

    code, _, err = cli(
        cluster, capsys, "model", "register", str(iris_file), "--name", "iris",
        "--version", "1", "-n", namespace, "--pvc", "absent",
    )  # fmt: skip
    assert code == 1
    assert f"PersistentVolumeClaim 'absent' does not exist in namespace '{namespace}'" in err
    # An endpoint nobody reconciled yet (no operator here): no router to send a request to.
    endpoint = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": "iris"},
        "spec": {
            "traffic": {"blue": 100},
            "deployments": [{"name": "blue", "model": {"name": "iris", "version": "1"}}],
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump(endpoint))
    request = iris_file.parent / "request.json"
    request.write_text(json.dumps({"data": [[5.1, 3.5, 1.4, 0.2]]}))
    code, _, err = cli(
        cluster, capsys, "endpoint", "invoke", "iris", "--data", str(request), "-n", namespace,
        "--deployment", "green",
    )  # fmt: skip
    assert code == 1
    assert "endpoint 'iris' has no deployment 'green' (it has: blue)" in err
    code, _, err = cli(
        cluster, capsys, "endpoint", "invoke", "iris", "--data", str(request), "-n", namespace
    )
    assert code == 1 and "error: the keys Secret 'iris-keys' of endpoint 'iris' is missing" in err
    endpoint["metadata"]["name"] = "open"
    endpoint["spec"]["authMode"] = "none"
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump(endpoint))
    code, _, err = cli(
        cluster, capsys, "endpoint", "invoke", "open", "--data", str(request), "-n", namespace
    )
    assert code == 1 and "error: endpoint 'open' has no router yet" in err
    code, _, err = cli(cluster, capsys, "endpoint", "logs", "iris", "-n", namespace)
    assert code == 1 and "endpoint 'iris' has no scoring pods" in err

    # Nothing was left behind by the refused registrations.
    assert get(cluster, namespace, "model", "iris-1") is None
    assert get(cluster, namespace, "configmap", "iris-1-artifact") is None


def test_waiting_without_an_operator_times_out_saying_what_to_check(
    cluster, crds, namespace, iris_file, capsys
):
    code, _, err = cli(
        cluster, capsys, "model", "register", str(iris_file), "--name", "iris",
        "--version", "1", "-n", namespace, "--wait", "--timeout", "2",
    )  # fmt: skip
    assert code == 1
    assert "error: Model iris-1 was not Ready after 2 s" in err
    assert "is the modelserve operator running and watching this namespace?" in err
