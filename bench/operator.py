"""Operator benchmark on a kwokctl control plane with simulated nodes (hack/kwokctl.sh).

Measures, with the operator running as its own process (`modelserve-operator`):
- apply -> children: from creating one OnlineEndpoint to its scoring Deployment and
  its Service existing (median and p90 over --single rounds);
- apply -> Ready for one endpoint (same rounds);
- N endpoints (default 200) created back to back: time from the last create until every
  one is Ready;
- the operator's resident memory (VmRSS) once all N are Ready.

Goals (issue 5): p50 apply->children under 1 s; 200 endpoints Ready within 60 s of the
last apply. Usage: `.venv/bin/python bench/operator.py [--endpoints 200] [--single 10]
[--kubeconfig PATH]`.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import joblib
from kubernetes import client, config
from modelserve_client.artifacts import configmap_registration
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION = "modelserve.io", "v1alpha1"
BENCH_NODES = 4
PODS_PER_BENCH_NODE = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cluster_kubeconfig() -> str:
    """The kwokctl cluster of hack/kwokctl.sh (created unless it runs): its kubeconfig."""
    out = subprocess.run(
        [str(REPO / "hack" / "kwokctl.sh"), "up"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def kubectl(kubeconfig: str, *args: str, input_text: str | None = None) -> None:
    bin_dir = subprocess.run(
        [str(REPO / "cluster/build-binaries.sh"), "--print-dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        [f"{bin_dir}/kubectl", f"--kubeconfig={kubeconfig}", *args],
        input=input_text,
        text=True,
        check=True,
    )


def add_bench_nodes(core: client.CoreV1Api) -> list[str]:
    """Extra simulated nodes, so hundreds of endpoints' pods all find room."""
    names = []
    for i in range(BENCH_NODES):
        name = f"kwok-bench-{i}"
        capacity = {"cpu": "64", "memory": "512Gi", "pods": str(PODS_PER_BENCH_NODE)}
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {"type": "kwok", "kubernetes.io/hostname": name},
            },
            "status": {"allocatable": capacity, "capacity": capacity},
        }
        try:
            core.create_node(body)
        except client.ApiException as error:
            if error.status != 409:
                raise
        names.append(name)
    return names


def ensure_service_room(kubeconfig: str) -> None:
    """Every endpoint takes two ClusterIPs; a cluster made with a /24 for them runs out.

    A second ServiceCIDR (networking.k8s.io/v1, GA since Kubernetes 1.33) adds room
    without restarting the API server. It is left in place: it costs nothing.
    """
    manifest = (
        "apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\n"
        "metadata: {name: modelserve-bench}\nspec: {cidrs: [10.1.0.0/16]}\n"
    )
    kubectl(kubeconfig, "apply", "-f", "-", input_text=manifest)


def model_objects(namespace: str) -> tuple[dict, dict]:
    x, y = load_iris(return_X_y=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), buffer)
    config_map, model = configmap_registration(buffer.getvalue(), "iris", "1")
    for manifest in (config_map, model):
        manifest["metadata"]["namespace"] = namespace
    return config_map, model


def endpoint(name: str) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OnlineEndpoint",
        "metadata": {"name": name},
        "spec": {
            "authMode": "key",
            "traffic": {"blue": 100},
            "deployments": [
                {"name": "blue", "model": {"name": "iris", "version": "1"}, "instanceCount": 1}
            ],
        },
    }


def is_ready(obj: dict) -> bool:
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))


def wait(check, what: str, timeout: float, interval: float = 0.02) -> float:
    """Poll until check() is true; return when it became true (monotonic)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def print_singles(to_children: list[float], to_ready: list[float]) -> None:
    def p90(values: list[float]) -> float:
        return statistics.quantiles(values, n=10)[8] if len(values) > 1 else values[0]

    print(f"\noperator benchmark ({len(to_children)} single rounds)")
    print("| figure | value | goal |")
    print("|---|---|---|")
    print(
        f"| apply -> children, p50 / p90 | {statistics.median(to_children):.2f} s / "
        f"{p90(to_children):.2f} s | p50 < 1 s |"
    )
    print(
        f"| apply -> Ready (one endpoint), p50 / p90 | {statistics.median(to_ready):.2f} s / "
        f"{p90(to_ready):.2f} s | |",
        flush=True,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reconcile_figures(metrics_port: str) -> str:
    """How many endpoint reconciles the operator ran, and their mean wall time."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read()
    count = total = 0.0
    for line in text.decode().splitlines():
        if 'kind="OnlineEndpoint"' not in line:
            continue
        if line.startswith("modelserve_operator_reconcile_duration_seconds_count"):
            count = float(line.rsplit(" ", 1)[1])
        elif line.startswith("modelserve_operator_reconcile_duration_seconds_sum"):
            total = float(line.rsplit(" ", 1)[1])
    return f"{count:.0f} / {1000 * total / max(count, 1):.0f} ms"


def trace_progress(
    apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str, elapsed: float, ready: dict
) -> None:
    """Where the endpoints that are not Ready yet are waiting: pods, ReplicaSets or us."""
    pods = core.list_namespaced_pod(namespace).items
    pods_ready = sum(
        any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
        for p in pods
    )
    deployments = apps.list_namespaced_deployment(namespace).items
    rolled_out = sum(
        (d.status.ready_replicas or 0) >= (d.spec.replicas or 0)
        and d.status.observed_generation == d.metadata.generation
        for d in deployments
    )
    print(
        f"  +{elapsed:5.0f} s: endpoints Ready {ready['n']}, Deployments rolled out "
        f"{rolled_out}/{len(deployments)}, pods Ready {pods_ready}/{len(pods)}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--single", type=int, default=10, help="rounds of one endpoint")
    parser.add_argument("--deadline", type=float, default=300, help="s to wait for all Ready")
    parser.add_argument("--keep", action="store_true", help="leave the namespace to inspect")
    parser.add_argument(
        "--kubeconfig",
        help="a running cluster with KWOK to measure on instead of hack/kwokctl.sh's",
    )
    args = parser.parse_args()

    kubeconfig = args.kubeconfig or cluster_kubeconfig()
    kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    ensure_service_room(kubeconfig)
    api_client = config.new_client_from_config(config_file=kubeconfig)
    api_client.configuration.connection_pool_maxsize = 16
    core = client.CoreV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    namespace = f"bench-operator-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    nodes = add_bench_nodes(core)
    log_path = Path(f"/tmp/{namespace}-operator.log")
    env = {
        **os.environ,
        "KUBECONFIG": kubeconfig,
        "MODELSERVE_WATCH_NAMESPACES": namespace,
        "MODELSERVE_NODE_SELECTOR": "type=kwok",
        "MODELSERVE_OPERATOR_BIND_ADDRESS": "127.0.0.1",
        "MODELSERVE_OPERATOR_METRICS_PORT": str(free_port()),
        "MODELSERVE_OPERATOR_LIVENESS_PORT": str(free_port()),
    }
    with log_path.open("wb") as log:
        operator = subprocess.Popen(
            [str(REPO / ".venv/bin/modelserve-operator"), "--log-level", "WARNING"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        config_map, model = model_objects(namespace)
        core.create_namespaced_config_map(namespace, config_map)
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "models", model)

        def model_ready() -> bool:
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "models", "iris-1")
            return is_ready(obj)

        wait(model_ready, "Model Ready", 60, interval=0.1)

        to_children, to_ready = [], []
        for i in range(args.single):
            name = f"single-{i}"
            started = time.monotonic()
            custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, "onlineendpoints", endpoint(name)
            )

            def children(name: str = name) -> bool:
                # The scoring Deployment and the endpoint's Service; the router's pods
                # start once the first deployment is Ready (a router rolled twice otherwise).
                try:
                    apps.read_namespaced_deployment(f"{name}-blue", namespace)
                    core.read_namespaced_service(name, namespace)
                    return True
                except client.ApiException:
                    return False

            def ready(name: str = name) -> bool:
                obj = custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, "onlineendpoints", name
                )
                return is_ready(obj)

            to_children.append(wait(children, "children", 60) - started)
            try:
                to_ready.append(wait(ready, "Ready", 120) - started)
            except TimeoutError:
                obj = custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, "onlineendpoints", name
                )
                print("not Ready:", obj.get("status"), flush=True)
                raise

        print_singles(to_children, to_ready)

        names = [f"many-{i:03d}" for i in range(args.endpoints)]
        first = time.monotonic()
        for name in names:
            custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, "onlineendpoints", endpoint(name)
            )
        last_apply = time.monotonic()
        ready_count = {"n": 0}
        next_trace = {"at": time.monotonic() + 10}

        def all_ready() -> bool:
            items = custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "onlineendpoints"
            )["items"]
            ready_names = {o["metadata"]["name"] for o in items if is_ready(o)}
            ready_count["n"] = sum(n in ready_names for n in names)
            if time.monotonic() >= next_trace["at"]:
                next_trace["at"] += 10
                trace_progress(apps, core, namespace, time.monotonic() - last_apply, ready_count)
            return ready_count["n"] == len(names)

        try:
            done = wait(all_ready, f"{args.endpoints} endpoints Ready", args.deadline, 0.5)
            verdict = f"{done - last_apply:.1f} s"
        except TimeoutError:
            verdict = (
                f"not reached: {ready_count['n']} of {len(names)} Ready after {args.deadline} s"
            )
        memory = rss_mib(operator.pid)
        cpu = cpu_seconds(operator.pid)
        reconciles = reconcile_figures(env["MODELSERVE_OPERATOR_METRICS_PORT"])
    finally:
        operator.terminate()
        try:
            operator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print("the operator took over 30 s to stop on SIGTERM; killed", flush=True)
            operator.kill()
            operator.wait()
        if not args.keep:
            core.delete_namespace(namespace)
        for node in nodes:
            core.delete_node(node)

    print(f"| creating {args.endpoints} endpoints took | {last_apply - first:.1f} s | |")
    print(f"| last create -> all {args.endpoints} Ready | {verdict} | < 60 s |")
    print(f"| operator RSS with {args.endpoints} endpoints | {memory:.0f} MiB | |")
    print(f"| endpoint reconciles run / mean duration | {reconciles} | |")
    print(f"| operator CPU time, whole run | {cpu:.0f} s | |")
    print(f"(operator log: {log_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
