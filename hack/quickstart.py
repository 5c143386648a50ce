"""The quickstart's second half: CRDs, the operator, a sample Model and endpoint, one prediction.

`run` trains an iris classifier, registers it (artifact in a ConfigMap, digest in the
Model), starts the operator as a local process watching the quickstart namespace,
waits for the endpoint to be Ready and prints a prediction made through its router.
`stop-operator` stops the operator this script started (by the PID it recorded).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import joblib
import yaml
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "modelserve-quickstart"
STATE = Path.home() / ".modelserve" / "operator"
KUBECONFIG = Path.home() / ".modelserve" / "cluster" / "kubeconfig"
REAL_NODE = "kubernetes.io/hostname=modelserve-node"


def kubectl(*args: str, input_text: str | None = None, check: bool = True) -> str:
    bin_dir = subprocess.run(
        [str(REPO / "cluster" / "build-binaries.sh"), "--print-dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    result = subprocess.run(
        [f"{bin_dir}/kubectl", f"--kubeconfig={KUBECONFIG}", *args],
        input=input_text,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        sys.exit(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def start_operator() -> None:
    """Run the operator in the background (once), pinned to the real node, loopback only."""
    STATE.mkdir(parents=True, exist_ok=True)
    pid_file = STATE / "operator.pid"
    if pid_file.exists() and Path(f"/proc/{pid_file.read_text().strip()}").exists():
        return
    env = {
        **os.environ,
        "KUBECONFIG": str(KUBECONFIG),
        "MODELSERVE_WATCH_NAMESPACES": NAMESPACE,
        "MODELSERVE_NODE_SELECTOR": REAL_NODE,
        "MODELSERVE_OPERATOR_BIND_ADDRESS": "127.0.0.1",
    }
    log = open(STATE / "operator.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "modelserve-operator")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pid_file.write_text(str(process.pid))
    print(f"operator running (pid {process.pid}, log {STATE / 'operator.log'})")


def stop_operator() -> None:
    pid_file = STATE / "operator.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
        print(f"operator (pid {pid}) stopped")
    except ProcessLookupError:
        pass
    pid_file.unlink()


def register_sample_model() -> list[dict]:
    x, y = load_iris(return_X_y=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), buffer)
    artifact = buffer.getvalue()
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "iris-model-1"},
            "binaryData": {"model.joblib": base64.b64encode(artifact).decode()},
        },
        {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "Model",
            "metadata": {"name": "iris-1"},
            "spec": {
                "modelName": "iris",
                "version": "1",
                "framework": "sklearn",
                "description": "Logistic regression on the iris data set (quickstart).",
                "artifact": {
                    "uri": "configmap://iris-model-1/model.joblib",
                    "sha256": hashlib.sha256(artifact).hexdigest(),
                },
            },
        },
        {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "OnlineEndpoint",
            "metadata": {"name": "iris"},
            "spec": {
                "authMode": "key",
                "traffic": {"blue": 100},
                "deployments": [
                    {
                        "name": "blue",
                        "model": {"name": "iris", "version": "latest"},
                        "instanceCount": 1,
                        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                    }
                ],
            },
        },
    ]


def predict() -> None:
    ip = kubectl("get", "service", "iris", "-n", NAMESPACE, "-o", "jsonpath={.spec.clusterIP}")
    secret = json.loads(kubectl("get", "secret", "iris-keys", "-n", NAMESPACE, "-o", "json"))
    key = base64.b64decode(secret["data"]["primaryKey"]).decode()
    body = json.dumps({"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}).encode()
    request = urllib.request.Request(
        f"http://{ip}/score",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                served_by = response.headers.get("x-modelserve-deployment")
                print(f"POST http://{ip}/score -> {response.status} (deployment {served_by})")
                print(response.read().decode())
                return
        except OSError as error:  # the router may still be rolling out its first config
            if time.monotonic() > deadline:
                sys.exit(f"no prediction from the endpoint: {error}")
            time.sleep(2)


def run() -> None:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    kubectl("create", "namespace", NAMESPACE, check=False)
    start_operator()
    kubectl(
        "apply", "-n", NAMESPACE, "-f", "-", input_text=yaml.safe_dump_all(register_sample_model())
    )
    print("waiting for the endpoint to be Ready ...")
    kubectl(
        "wait", "-n", NAMESPACE, "--for=condition=Ready", "onlineendpoint/iris", "--timeout=300s"
    )
    print(kubectl("get", "onlineendpoint", "-n", NAMESPACE))
    predict()


if __name__ == "__main__":
    {"run": run, "stop-operator": stop_operator}[sys.argv[1] if len(sys.argv) > 1 else "run"]()
