"""The walk-through on any cluster: Helm-install the operator, serve a model, print a prediction.

One sequence for every cluster, so they cannot drift apart: `hack/kind.sh` runs it on
kind (for `hack/quickstart.sh` too), and tests/e2e/test_readmes.py installs the chart with
its `install_operator`.

    walkthrough.py up   --kubeconfig PATH [--pin-node NAME] [--namespace NS] [--release R]
    walkthrough.py down --kubeconfig PATH [--namespace NS] [--release R]

`up` installs the chart (the operator runs in a pod and watches only NS), registers an
iris classifier (artifact in a ConfigMap, its sha256 in the Model), applies
examples/first-endpoint/endpoint.yaml, waits for Ready and prints a prediction made
through the endpoint's router with its key, over `kubectl port-forward`.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import joblib
import yaml
from modelserve_client.artifacts import configmap_registration
from modelserve_client.pods import IMAGE_MISSING, PodProblem, pod_problems
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "modelserve"
EXAMPLE = REPO / "examples" / "first-endpoint" / "endpoint.yaml"
IMAGE_TAG = os.environ.get("MODELSERVE_IMAGE_TAG", "dev")
SAMPLE_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
# How long a pod may stay unschedulable, without its image or crash-looping before the
# walk-through stops waiting: long enough for a kubelet's first image lookup, far short
# of a timeout.
STUCK_GRACE_S = 20


class Cluster:
    """kubectl and helm against one kubeconfig."""

    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self.kubectl_bin = _tool("kubectl")
        self.helm_bin = _tool("helm")

    def kubectl(self, *args: str, input_text: str | None = None, check: bool = True) -> str:
        return _run([self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", *args], input_text, check)

    def helm(self, *args: str) -> str:
        return _run([self.helm_bin, f"--kubeconfig={self.kubeconfig}", *args])


def _tool(name: str) -> str:
    """The project's own build of a tool (cluster/build-binaries.sh), else the one on PATH."""
    built = subprocess.run(
        [str(REPO / "cluster" / "build-binaries.sh"), "--print-dir"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if built and Path(built, name).exists():
        return str(Path(built, name))
    return name


def _run(argv: list[str], input_text: str | None = None, check: bool = True) -> str:
    result = subprocess.run(argv, input=input_text, capture_output=True, text=True)
    if check and result.returncode != 0:
        tool = Path(argv[0]).name
        sys.exit(f"{tool} {' '.join(argv[2:])} failed:\n{result.stderr.strip()}")
    return result.stdout


def step(message: str) -> None:
    print(f"--> {message}", flush=True)


def install_operator(
    cluster: Cluster,
    release: str,
    operator_namespace: str,
    watch: str,
    pin_node: str | None,
    chart: Path = CHART,
    operator_tag: str = IMAGE_TAG,
    extra_values: dict | None = None,
    apply_crds: bool = True,
) -> None:
    """Install (or upgrade) the chart: the operator in a pod, watching only `watch`.

    `chart`, `operator_tag`, `extra_values` and `apply_crds` let the upgrade test install
    one release and upgrade to another.
    """
    values: dict = {
        "image": {"tag": operator_tag},
        "workloads": {
            "scoringImage": {"tag": IMAGE_TAG},
            "routerImage": {"tag": IMAGE_TAG},
        },
        "watchNamespaces": [watch],
        **(extra_values or {}),
    }
    api_server_cidrs = os.environ.get("MODELSERVE_API_SERVER_CIDRS", "")
    if api_server_cidrs:
        # A cluster whose network plugin applies NetworkPolicies to the API server's pod
        # proxy, through which the operator reads the scoring pods' reports.
        cidrs = [cidr.strip() for cidr in api_server_cidrs.split(",") if cidr.strip()]
        values["networkPolicies"] = {**values.get("networkPolicies", {}), "apiServerCIDRs": cidrs}
    if pin_node:
        # Clusters with simulated nodes (ours) must keep real pods on the real node.
        selector = {"kubernetes.io/hostname": pin_node}
        values["nodeSelector"] = selector
        values["workloads"]["nodeSelector"] = selector
    image_id = _local_image_id(f"modelserve/operator:{operator_tag}")
    if image_id:
        # The tag stays `dev` from one build to the next: without this, an upgrade with a
        # rebuilt image leaves the old operator running.
        values["podAnnotations"] = {"modelserve.io/image-id": image_id}
    cluster.kubectl("create", "namespace", watch, check=False)
    # Helm installs a chart's crds/ once and never upgrades them: apply the current ones,
    # or a new field in them would be refused (or pruned) by the API server.
    if apply_crds:
        apply_chart_crds(cluster, chart)
    step(f"helm install {release} (namespace {operator_namespace}, watching {watch})")
    # No `helm --wait`: it ends in a bare "context deadline exceeded" after minutes. Our own
    # wait names the pod that cannot run, and why, as soon as waiting cannot help.
    cluster.helm(
        "upgrade",
        "--install",
        release,
        str(chart),
        "--namespace",
        operator_namespace,
        "--create-namespace",
        "--values",
        _values_file(values),
    )
    selector = f"app.kubernetes.io/instance={release}"
    wait_until(
        cluster,
        "the operator's pod to be Ready",
        lambda: _deployments_pending(cluster, operator_namespace, selector),
        operator_namespace,
        timeout=300,
    )


def apply_chart_crds(cluster: Cluster, chart: Path = CHART) -> None:
    """Apply a chart's CRDs, as docs/helm.md tells users to on every upgrade."""
    shown = chart.relative_to(REPO) if chart.is_relative_to(REPO) else chart
    step(f"apply the CRDs ({shown / 'crds'})")
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(chart / "crds"))


def _local_image_id(image: str) -> str | None:
    """The local Docker engine's id of `image`, or None where there is no such engine."""
    try:
        found = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", image],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found.stdout.strip() or None


def _deployments_pending(cluster: Cluster, namespace: str, selector: str) -> str | None:
    """None once every Deployment matching `selector` has all its replicas updated and ready."""
    found = json.loads(
        cluster.kubectl("get", "deployments", "-n", namespace, "-l", selector, "-o=json")
    )["items"]
    if not found:
        return "no Deployment yet"
    for deployment in found:
        wanted = deployment["spec"].get("replicas", 1)
        status = deployment.get("status") or {}
        ready, updated = status.get("readyReplicas", 0), status.get("updatedReplicas", 0)
        if ready < wanted or updated < wanted or status.get("replicas", 0) > wanted:
            name = deployment["metadata"]["name"]
            return f"deployment {name}: {ready}/{wanted} ready, {updated} up to date"
    return None


def wait_until(
    cluster: Cluster,
    what: str,
    pending: Callable[[], str | None],
    namespace: str,
    timeout: float,
) -> None:
    """Poll `pending()` (None when done, else what is missing) and show progress meanwhile.

    Each poll also reads the namespace's pods: a pod that cannot be scheduled, cannot get
    its image or keeps crashing for STUCK_GRACE_S ends the wait at once, with the reason,
    the pod's last events and what to do, instead of sitting out the timeout.
    """
    started = time.monotonic()
    step(f"wait for {what} (up to {timeout:.0f} s)")
    last_said, last_print, stuck_since = "", started, None
    while True:
        said = pending()
        if said is None:
            step(f"{what}: done after {time.monotonic() - started:.0f} s")
            return
        now = time.monotonic()
        if said != last_said or now - last_print >= 20:
            print(f"    [{now - started:4.0f} s] {said}", flush=True)
            last_said, last_print = said, now
        problems = [p for p in _namespace_pod_problems(cluster, namespace) if p.stuck]
        stuck_since = (stuck_since or now) if problems else None
        if problems and now - stuck_since >= STUCK_GRACE_S:
            _give_up(cluster, namespace, f"{what} cannot happen", problems)
        if now - started > timeout:
            _give_up(cluster, namespace, f"{what} did not happen in {timeout:.0f} s ({said})", [])
        time.sleep(2)


def _namespace_pod_problems(cluster: Cluster, namespace: str) -> list[PodProblem]:
    pods = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o=json"))["items"]
    return [problem for pod in pods for problem in pod_problems(pod)]


def _give_up(cluster: Cluster, namespace: str, headline: str, problems: list[PodProblem]) -> None:
    """Print what is wrong, the pods' last events and what to do; exit with a plain sentence."""
    problems = problems or _namespace_pod_problems(cluster, namespace)
    print(f"\n{headline}.", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem.sentence}", file=sys.stderr)
        events = _last_events(cluster, namespace, problem.pod)
        if events:
            print("    its last events:\n" + events, file=sys.stderr)
        if problem.reason == "CrashLoopBackOff":
            logs = cluster.kubectl(
                "logs",
                "-n",
                namespace,
                problem.pod,
                "--previous",
                "--all-containers",
                "--tail=15",
                check=False,
            )
            print("    its last log lines:\n" + _indent(logs, 6), file=sys.stderr)
    pods = cluster.kubectl("get", "pods", "-n", namespace, "-o=wide", check=False)
    print(f"\nThe namespace's pods:\n{_indent(pods, 2)}", file=sys.stderr)
    sentences = [_what_to_do(problem) for problem in problems] or [
        f"Look at `kubectl --kubeconfig {cluster.kubeconfig} get events -n {namespace}`."
    ]
    sys.exit("\n".join(dict.fromkeys(sentences)))


def _what_to_do(problem: PodProblem) -> str:
    if problem.reason in IMAGE_MISSING:
        return (
            f"Image {problem.image} is not on node {problem.node or '(unscheduled)'}: "
            "`hack/kind.sh cluster` builds every image of images/images.txt and loads them "
            f"onto the quickstart's kind cluster; `kind load docker-image {problem.image} "
            "--name modelserve` loads one."
        )
    if problem.reason == "Unschedulable":
        return (
            f"Pod {problem.pod} does not fit on any node: free CPU or memory there, or lower "
            "the requests (examples/README.md, 'What the examples need', says what each part "
            "asks for)."
        )
    return f"Pod {problem.pod}: {problem.sentence}; fix that and run this again."


def _last_events(cluster: Cluster, namespace: str, pod: str, count: int = 5) -> str:
    events = json.loads(
        cluster.kubectl(
            "get",
            "events",
            "-n",
            namespace,
            f"--field-selector=involvedObject.name={pod}",
            "-o=json",
            check=False,
        )
        or '{"items": []}'
    )["items"]
    events.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    lines = [f"{e.get('type', '')} {e.get('reason', '')}: {e.get('message', '')}" for e in events]
    return _indent("\n".join(lines[-count:]), 6) if lines else ""


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.rstrip().splitlines())


def _values_file(values: dict) -> str:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"modelserve-walkthrough-{os.getpid()}.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def sample_model() -> list[dict]:
    """An iris classifier as a ConfigMap artifact and the Model that names its digest."""
    x, y = load_iris(return_X_y=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), buffer)
    return configmap_registration(
        buffer.getvalue(),
        "iris",
        "1",
        description="Logistic regression on the iris data set (walk-through).",
    )


def serve_example(cluster: Cluster, namespace: str) -> None:
    step(f"register the iris model and apply {EXAMPLE.relative_to(REPO)} in {namespace}")
    cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input_text=yaml.safe_dump_all(sample_model())
    )
    cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLE))
    wait_until(
        cluster,
        "the endpoint to be Ready",
        lambda: _endpoint_pending(cluster, namespace, "iris"),
        namespace,
        timeout=300,
    )
    print(cluster.kubectl("get", "onlineendpoint", "-n", namespace), end="")


def _endpoint_pending(cluster: Cluster, namespace: str, name: str) -> str | None:
    """None once the endpoint's Ready condition is True for its latest spec."""
    endpoint = json.loads(
        cluster.kubectl("get", "onlineendpoint", name, "-n", namespace, "-o=json")
    )
    status = endpoint.get("status") or {}
    if status.get("observedGeneration") != endpoint["metadata"].get("generation"):
        return "the operator has not reconciled the latest spec yet"
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    if ready.get("status") == "True":
        return None
    return f"{ready.get('reason', 'NoStatusYet')}: {ready.get('message', '')}".rstrip(": ")


def predict(cluster: Cluster, namespace: str) -> dict:
    """POST two rows to the endpoint's router with its primary key; returns the answer."""
    secret = json.loads(cluster.kubectl("get", "secret", "iris-keys", "-n", namespace, "-o=json"))
    key = base64.b64decode(secret["data"]["primaryKey"]).decode()
    body = json.dumps({"data": SAMPLE_ROWS}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 120
    error: Exception | str = "no attempt"
    while time.monotonic() < deadline:
        # A forward is bound to one pod; the router's pods are replaced when its
        # configuration changes, so a forward that died is simply started again.
        with PortForward(cluster, namespace, "service/iris", 80) as forward:
            while time.monotonic() < deadline:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{forward.port}/score", data=body, headers=headers
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        answer = json.loads(response.read())
                        served_by = response.headers.get("x-modelserve-deployment")
                        step(f"POST /score -> {response.status} (served by {served_by})")
                        print(json.dumps(answer))
                        return answer
                except OSError as failure:  # the forward or the router is not up (yet)
                    error = failure
                    time.sleep(1)
                    if not forward.alive():
                        break
    sys.exit(f"no prediction from the endpoint within 120 s: {error}")


class PortForward:
    """`kubectl port-forward` to a free loopback port, stopped on exit."""

    def __init__(self, cluster: Cluster, namespace: str, target: str, remote: int) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.argv = [
            cluster.kubectl_bin,
            f"--kubeconfig={cluster.kubeconfig}",
            "port-forward",
            "-n",
            namespace,
            "--address=127.0.0.1",
            target,
            f"{self.port}:{remote}",
        ]

    def __enter__(self) -> PortForward:
        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return self

    def alive(self) -> bool:
        return self.process.poll() is None

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.wait()


def down(cluster: Cluster, namespace: str, release: str, operator_namespace: str) -> None:
    step(f"delete namespace {namespace}, then helm uninstall {release}")
    # While the operator still runs: Kopf's finalizers come off only through it.
    cluster.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--timeout=180s")
    cluster.helm("uninstall", release, "--namespace", operator_namespace, "--ignore-not-found")
    cluster.kubectl("delete", "namespace", operator_namespace, "--ignore-not-found", check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", default="modelserve-quickstart", help="for the example")
    parser.add_argument("--release", default="modelserve")
    parser.add_argument("--operator-namespace", default="modelserve-system")
    parser.add_argument("--pin-node", help="run the operator and the example on this node")
    args = parser.parse_args()
    cluster = Cluster(args.kubeconfig)
    if args.action == "down":
        down(cluster, args.namespace, args.release, args.operator_namespace)
        return 0
    install_operator(cluster, args.release, args.operator_namespace, args.namespace, args.pin_node)
    serve_example(cluster, args.namespace)
    predict(cluster, args.namespace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
