"""The whole path through the endpoint's router on the quickstart's kind cluster: req/s and
p50/p99 straight to a scoring pod against the same calls through the router's Service.

Run after `./hack/quickstart.sh` (operator installed by Helm, iris Model registered):

    apt-get install -y wrk                       # the loader
    .venv/bin/python bench/router.py             # 3 interleaved rounds x 10 s per cell
    .venv/bin/python bench/router.py --rounds 1 --duration 3 --warmup 1   # smoke run

The bench works in its own namespace (`--namespace`, default modelserve-routerbench), which
it deletes at the end. If the operator watches only some namespaces (the quickstart's
install watches only its own), the bench adds its namespace to the Helm release's
`watchNamespaces` for the run and puts the list back afterwards. It copies the quickstart's
iris artifact ConfigMap and registers a Model with the same artifact and digest there (a
Model must live in its endpoint's namespace), then serves an OnlineEndpoint with the
default `authMode: key`: every call, direct ones included, carries the endpoint's primary
key, so every target gets byte-identical requests (the scoring server ignores the header,
the router checks it and strips it).

The loader is `wrk` (one thread, closed loop, keep-alive), run on this machine inside the
network namespace of a client pod the bench starts on the worker node (the router's image,
running `sleep`): `nsenter --net=/proc/<pid>/ns/net wrk ...`. So its calls take
the path another pod's calls take: pod veth → node bridge → kube-proxy's DNAT for a
ClusterIP → the router pod → the deployment's Service → a scoring pod.

Targets, each called with the same Open Inference Protocol v2 body (POST
/v2/models/iris/infer, one row):
  1 replica:   direct (the scoring pod's IP:8080), router (the router Service's ClusterIP)
  2 replicas:  direct x2 (both pods at once, half the clients each; req/s summed, the worse
               p50/p99 of the two), router
Every round runs every target of a phase for every scenario, the order rotating per round;
the table shows medians across rounds. Ratios: router throughput cost = 1 - router/direct,
and p99 router/direct at 64 clients (issue 21: cost ≤ 15 %, p99 < 2x). "Machine CPU µs/req"
is what all the cores spent (/proc/stat, every process and the kernel) per request while a
run lasted: the router's own cost where everything shares the machine. Nothing else should
run meanwhile.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cluster_tools import (
    REPO,
    client_netns,
    helm_bin,
    kubectl,
    kubectl_json,
    real_node,
    run,
    start_client_pod,
    wait,
)

ENDPOINT = "routerbench"
DEPLOYMENT = "blue"
CLIENT_POD = "routerbench-client"
SOURCE_NAMESPACE = "modelserve-quickstart"
MODEL = "iris"
SCORING_PORT = 8080
# Any image the quickstart loaded will do: the client pod only sleeps.
CLIENT_IMAGE = "modelserve/router:dev"
LUA_SCRIPT = REPO / "bench" / "post_json.lua"
ROW = [5.1, 3.5, 1.4, 0.2]
MAX_CONCURRENT = 256
# nothing here is timed while polling: every half second is enough
POLL_S = 0.5


# --- the operator must watch the bench's namespace ---------------------------------------


def operator_release() -> tuple[str, str] | None:
    """(release, namespace) of the Helm release of the modelserve chart, if there is one."""
    for release in json.loads(run([helm_bin(), "list", "-A", "-o", "json"])):
        if release["chart"].startswith("modelserve-"):
            return release["name"], release["namespace"]
    return None


def watched_namespaces(release: str, namespace: str) -> list[str]:
    values = json.loads(run([helm_bin(), "get", "values", release, "-n", namespace, "-o=json"]))
    return list((values or {}).get("watchNamespaces") or [])


def set_watched_namespaces(release: str, namespace: str, watched: list[str]) -> None:
    run(
        [
            helm_bin(),
            "upgrade",
            release,
            str(REPO / "charts" / "modelserve"),
            "-n",
            namespace,
            "--reuse-values",
            "--set-json",
            f"watchNamespaces={json.dumps(watched)}",
        ]
    )

    def rolled() -> bool:
        for item in kubectl_json("get", "deployments", "-n", namespace)["items"]:
            status = item.get("status") or {}
            wanted = item["spec"].get("replicas", 1)
            if (
                status.get("observedGeneration") != item["metadata"]["generation"]
                or status.get("updatedReplicas", 0) != wanted
                or status.get("readyReplicas", 0) != wanted
                or status.get("replicas", 0) != wanted
            ):
                return False
        return True

    wait(rolled, "the operator to roll out with the new watched namespaces", interval=POLL_S)


# --- the endpoint, its model and the client pod -------------------------------------------


def copy_model(namespace: str) -> None:
    """The quickstart's iris artifact and a Model naming it, in the bench's namespace."""
    artifact = kubectl_json("get", "configmap", "iris-1-artifact", "-n", SOURCE_NAMESPACE)
    model = kubectl_json("get", "model", "iris-1", "-n", SOURCE_NAMESPACE)
    objects = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "iris-1-artifact"},
            "binaryData": artifact["binaryData"],
        },
        {
            "apiVersion": model["apiVersion"],
            "kind": "Model",
            "metadata": {"name": "iris-1"},
            "spec": model["spec"],
        },
    ]
    listing = {"apiVersion": "v1", "kind": "List", "items": objects}
    kubectl("apply", "-n", namespace, "-f", "-", input_text=json.dumps(listing))


def apply_endpoint(namespace: str, replicas: int) -> None:
    manifest = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": ENDPOINT},
        "spec": {
            "traffic": {DEPLOYMENT: 100},
            "deployments": [
                {
                    "name": DEPLOYMENT,
                    "model": {"name": MODEL, "version": "1"},
                    "instanceCount": replicas,
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                    # Above the most clients the bench runs (default 16): the bench
                    # measures the path, not the pod's load shedding (429 beyond it).
                    "requestSettings": {"maxConcurrentRequestsPerInstance": MAX_CONCURRENT},
                }
            ],
        },
    }
    kubectl("apply", "-n", namespace, "-f", "-", input_text=json.dumps(manifest))


def ready_scoring_pods(namespace: str) -> list[dict]:
    selector = f"modelserve.io/endpoint={ENDPOINT},modelserve.io/deployment={DEPLOYMENT}"
    pods = kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
    return [
        pod
        for pod in pods
        if not pod["metadata"].get("deletionTimestamp")
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        )
    ]


def endpoint_ready(namespace: str, replicas: int) -> bool:
    obj = kubectl_json("get", "onlineendpoint", ENDPOINT, "-n", namespace)
    status = obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
    return (
        status.get("observedGeneration") == obj["metadata"]["generation"]
        and ready.get("status") == "True"
        and len(ready_scoring_pods(namespace)) == replicas
    )


# --- load -----------------------------------------------------------------------------------


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int  # non-200 answers + socket errors and timeouts
    requests: int = 0
    #: CPU the whole machine spent per request while it ran (every process and the kernel:
    #: the client, the router, the pods, the forwarding), from /proc/stat
    cpu_us: float = 0.0


def machine_busy_s() -> float:
    """CPU seconds this machine's cores have spent busy since boot (/proc/stat: all but idle
    and iowait; guest time is already inside user time)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def start_wrk(
    netns: str, url: str, clients: int, seconds: float, body: Path, headers: Path
) -> subprocess.Popen:
    """wrk in the client pod's network namespace, posting `body` with `headers`."""
    argv = [
        "nsenter",
        f"--net={netns}",
        "wrk",
        "-t1",
        f"-c{clients}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(body),
        str(headers),
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def wrk(netns: str, url: str, clients: int, seconds: float, body: Path, headers: Path) -> Load:
    return parse_wrk(start_wrk(netns, url, clients, seconds, body, headers))


def parse_wrk(process: subprocess.Popen) -> Load:
    out, _ = process.communicate()
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if process.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed (exit {process.returncode}): {out}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    failures = raw["non200"] + sum(
        raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return Load(
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        failures=failures,
        requests=raw["requests"],
    )


def wrk_split(
    netns: str, urls: list[str], clients: int, seconds: float, body: Path, headers: Path
) -> Load:
    """One wrk per URL at once, the clients shared out: summed req/s, the worst percentiles."""
    if len(urls) == 1:
        return wrk(netns, urls[0], clients, seconds, body, headers)
    share = clients // len(urls)
    processes = [start_wrk(netns, url, share, seconds, body, headers) for url in urls]
    loads = [parse_wrk(p) for p in processes]
    return Load(
        rps=sum(x.rps for x in loads),
        p50_ms=max(x.p50_ms for x in loads),
        p99_ms=max(x.p99_ms for x in loads),
        failures=sum(x.failures for x in loads),
        requests=sum(x.requests for x in loads),
    )


def check_answer(netns: str, url: str, body: Path, headers: Path) -> None:
    """One call through the same network namespace: 200 and one prediction back."""
    header_args = []
    for line in headers.read_text().splitlines():
        header_args += ["-H", line]
    out = run(
        [
            "nsenter",
            f"--net={netns}",
            "curl",
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "-H",
            "Content-Type: application/json",
            *header_args,
            "--data-binary",
            f"@{body}",
            url,
        ]
    )
    text, _, code = out.rpartition("\n")
    if code != "200":
        raise SystemExit(f"{url} answered {code}: {text}")
    outputs = json.loads(text)["outputs"]
    if outputs[0]["shape"][0] != 1:
        raise SystemExit(f"{url} answered an unexpected body: {text}")


# --- the measurement -------------------------------------------------------------------------


def measure_phase(
    phase: str,
    targets: dict[str, list[str]],
    scenarios: list[int],
    args: argparse.Namespace,
    netns: str,
    body: Path,
    headers: Path,
) -> dict[tuple[str, int, str], list[Load]]:
    results: dict[tuple[str, int, str], list[Load]] = {}
    names = list(targets)
    for index in range(args.rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for clients in scenarios:
            for name in order:
                urls = targets[name]
                wrk_split(netns, urls, clients, args.warmup, body, headers)
                busy = machine_busy_s()
                got = wrk_split(netns, urls, clients, args.duration, body, headers)
                got.cpu_us = (machine_busy_s() - busy) * 1e6 / max(got.requests, 1)
                results.setdefault((phase, clients, name), []).append(got)
                print(
                    f"round {index + 1} {phase} {clients:>2} clients {name:<9} "
                    f"{got.rps:8.0f} req/s  p50 {got.p50_ms:6.1f} ms  p99 {got.p99_ms:6.1f} ms  "
                    f"machine CPU {got.cpu_us:5.0f} µs/req"
                    + (f"  FAILURES {got.failures}" if got.failures else ""),
                    flush=True,
                )
    return results


def median_load(loads: list[Load]) -> Load:
    return Load(
        rps=statistics.median(x.rps for x in loads),
        p50_ms=statistics.median(x.p50_ms for x in loads),
        p99_ms=statistics.median(x.p99_ms for x in loads),
        failures=sum(x.failures for x in loads),
        requests=sum(x.requests for x in loads),
        cpu_us=statistics.median(x.cpu_us for x in loads),
    )


def report(results: dict[tuple[str, int, str], list[Load]]) -> tuple[str, bool]:
    lines = [
        "| scoring pods | scenario | path | req/s | p50 ms | p99 ms | machine CPU µs/req "
        "| failed |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    medians = {key: median_load(loads) for key, loads in results.items()}
    for (phase, clients, name), got in medians.items():
        lines.append(
            f"| {phase} | 1 row x {clients} clients | {name} | {got.rps:.0f} | "
            f"{got.p50_ms:.1f} | {got.p99_ms:.1f} | {got.cpu_us:.0f} | {got.failures} |"
        )
    lines += [
        "",
        "| scoring pods | scenario | router / direct req/s | router cost | p99 router / direct "
        "| machine CPU µs/req, direct → router |",
        "|---|---|---:|---:|---:|---|",
    ]
    verdicts: list[bool] = []  # one per phase measured at 64 clients
    for (phase, clients, name), got in medians.items():
        if name != "router":
            continue
        direct = next(
            v for (p, c, n), v in medians.items() if p == phase and c == clients and n != name
        )
        ratio = got.rps / direct.rps if direct.rps else 0.0
        p99 = got.p99_ms / direct.p99_ms if direct.p99_ms else float("inf")
        lines.append(
            f"| {phase} | 1 row x {clients} clients | {ratio:.2f} | {1 - ratio:.0%} | {p99:.2f}x "
            f"| {direct.cpu_us:.0f} → {got.cpu_us:.0f} |"
        )
        if clients == 64:
            verdicts.append((1 - ratio) <= 0.15 and p99 < 2.0)
    met = bool(verdicts) and all(verdicts)
    failed = sum(x.failures for x in medians.values())
    lines.append("")
    lines.append(
        "goal at 64 clients (router cost ≤ 15 %, p99 < 2x direct): "
        + ("met" if met else "NOT met" if verdicts else "not measured (no run at 64 clients)")
        + (f"; {failed} failed calls" if failed else "")
    )
    return "\n".join(lines), met and not failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="modelserve-routerbench")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--clients", default="8,64", help="comma-separated connection counts")
    parser.add_argument("--replicas", default="1,2", help="scoring replicas, one phase each")
    parser.add_argument("--keep", action="store_true", help="leave the namespace for a look")
    parser.add_argument("--json", type=Path, help="write every run here")
    args = parser.parse_args()
    os.environ.setdefault("KUBECONFIG", str(Path.home() / ".modelserve/kind-kubeconfig"))
    scenarios = [int(c) for c in args.clients.split(",")]
    phases = [int(r) for r in args.replicas.split(",")]

    node = real_node()
    release = operator_release()
    if release is None:
        raise SystemExit("the modelserve chart is not installed: run ./hack/quickstart.sh first")
    watched = watched_namespaces(*release)
    # A previous run's namespace may still be terminating (its pods' preStop sleeps).
    wait(
        lambda: not kubectl("get", "namespace", args.namespace, "--ignore-not-found"),
        f"namespace {args.namespace} from an earlier run to be gone",
        interval=POLL_S,
    )
    kubectl("create", "namespace", args.namespace)
    results: dict[tuple[str, int, str], list[Load]] = {}
    try:
        if watched and args.namespace not in watched:
            print(f"operator: watching {args.namespace} as well, for the run", flush=True)
            set_watched_namespaces(*release, [*watched, args.namespace])
        copy_model(args.namespace)
        start_client_pod(args.namespace, node, CLIENT_POD, CLIENT_IMAGE)
        netns = client_netns(args.namespace, CLIENT_POD)
        with tempfile.TemporaryDirectory(prefix="routerbench-") as scratch:
            body = Path(scratch, "body.json")
            tensor = {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ROW}
            body.write_text(json.dumps({"inputs": [tensor]}))
            headers = Path(scratch, "headers.txt")
            for replicas in phases:
                apply_endpoint(args.namespace, replicas)
                wait(
                    lambda r=replicas: endpoint_ready(args.namespace, r),
                    f"endpoint {ENDPOINT} Ready with {replicas} scoring pod(s)",
                    interval=POLL_S,
                )
                secret = kubectl_json("get", "secret", f"{ENDPOINT}-keys", "-n", args.namespace)
                key = base64.b64decode(secret["data"]["primaryKey"]).decode()
                headers.write_text(f"Authorization: Bearer {key}\n")
                service = kubectl_json("get", "service", ENDPOINT, "-n", args.namespace)
                port = service["spec"]["ports"][0]["port"]
                router = f"http://{service['spec']['clusterIP']}:{port}/v2/models/{MODEL}/infer"
                pods = [
                    f"http://{p['status']['podIP']}:{SCORING_PORT}/v2/models/{MODEL}/infer"
                    for p in ready_scoring_pods(args.namespace)
                ]
                for url in [router, *pods]:
                    check_answer(netns, url, body, headers)
                direct = "direct" if replicas == 1 else f"direct x{replicas}"
                targets = {direct: pods, "router": [router]}
                results |= measure_phase(
                    str(replicas), targets, scenarios, args, netns, body, headers
                )
    finally:
        if not args.keep:
            kubectl("delete", "namespace", args.namespace, "--wait=false", check=False)
        if watched and args.namespace not in watched:
            set_watched_namespaces(*release, watched)
    table, met = report(results)
    print(f"\nmedians of {args.rounds} round(s), {args.duration:.0f} s each:\n\n{table}")
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {"replicas": p, "clients": c, "path": n, "runs": [vars(x) for x in v]}
                    for (p, c, n), v in results.items()
                ],
                indent=1,
            )
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
