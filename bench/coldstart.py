"""Cold start on the quickstart's kind cluster: from `kubectl apply` to a new deployment's
first answer through the endpoint's router, split into where the time goes.

Run after `./hack/quickstart.sh` (the operator watches the quickstart namespace and the
iris Model is registered there):

    .venv/bin/python bench/coldstart.py --rounds 5

Each round adds a deployment of the iris model to the bench's own endpoint (at 0 %
traffic) and calls the router with the pin header until that deployment answers 200, from
the network namespace of a client pod it starts on the worker (a ClusterIP is reachable only
from inside the cluster).
The phases come from what the cluster reports as it happens (pod watch, receive time)
and from the containers' own log timestamps (the kubelet's, nanosecond resolution):

  schedule        apply → the pod is bound to the node (operator, controllers, scheduler)
  sandbox+init    bound → the fetch init container's first line (sandbox, image, Python)
  fetch+digest    the init container's first line → its last (artifact copied, sha256)
  server start    init done → the scoring server's first line (container, the server's
                  imports; scikit-learn's are in "load")
  load            first line → the compile step begins, or → "is ready" when the server
                  compiles in the background (digest, scikit-learn's imports, unpickle, warm-up)
  compile         conversion and the exactness check, as the server reports it (0 when it
                  runs after "is ready": runtime auto checks ONNX Runtime in the background)
  warm-up         compile done → "is ready"
  readiness       "is ready" → the pod's Ready condition (the readiness probe's period)
  routed          Ready → the first 200 through the router (Service endpoints, router)

It prints every round and the median of each phase, and how long a background check took
(off the path: the pod answers with scikit-learn meanwhile). The goal (issue 21) is ≤ 5 s
from apply to the first answer on a warm node.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

from cluster_tools import (
    client_netns,
    kubectl,
    kubectl_json,
    real_node,
    start_client_pod,
    wait,
)
from kubernetes import client, config, watch

ENDPOINT = "coldstart"
CLIENT_POD = "coldstart-client"
# Any image the quickstart loaded will do: the client pod only sleeps.
CLIENT_IMAGE = "modelserve/router:dev"
PIN_HEADER = "x-modelserve-deployment"
ROWS = [[5.1, 3.5, 1.4, 0.2]]
COMPILE_LINE = re.compile(r"in (\d+(?:\.\d+)?) s$")
PHASES = (
    "schedule",
    "sandbox+init",
    "fetch+digest",
    "server start",
    "load",
    "compile",
    "warm-up",
    "readiness",
    "routed",
)


def endpoint(deployments: list[str]) -> dict:
    """The bench's endpoint: `base` takes the traffic, the others are reached by pin."""
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "OnlineEndpoint",
        "metadata": {"name": ENDPOINT},
        "spec": {
            "authMode": "none",
            "traffic": {"base": 100},
            "deployments": [
                {
                    "name": name,
                    "model": {"name": "iris", "version": "1"},
                    "instanceCount": 1,
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
                for name in ["base", *deployments]
            ],
        },
    }


def apply_endpoint(namespace: str, deployments: list[str]) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input_text=json.dumps(endpoint(deployments)))


def endpoint_ready(namespace: str) -> bool:
    obj = kubectl_json("get", "onlineendpoint", ENDPOINT, "-n", namespace)
    status = obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
    return (
        status.get("observedGeneration") == obj["metadata"]["generation"]
        and ready.get("status") == "True"
    )


class PodWatch:
    """The first time (time.time()) each milestone of the deployment's pod was seen."""

    def __init__(self, core: client.CoreV1Api, namespace: str, deployment: str) -> None:
        self.seen: dict[str, float] = {}
        self.pod: str | None = None
        self._stream = watch.Watch()
        selector = f"modelserve.io/endpoint={ENDPOINT},modelserve.io/deployment={deployment}"
        self._thread = threading.Thread(
            target=self._run, args=(core, namespace, selector), daemon=True
        )
        self._thread.start()

    def _run(self, core: client.CoreV1Api, namespace: str, selector: str) -> None:
        # stop() cuts the stream mid-read; what was seen by then is kept.
        with contextlib.suppress(Exception):
            self._watch(core, namespace, selector)

    def _watch(self, core: client.CoreV1Api, namespace: str, selector: str) -> None:
        for event in self._stream.stream(
            core.list_namespaced_pod, namespace, label_selector=selector
        ):
            now = time.time()
            pod = event["object"]
            if pod.metadata.deletion_timestamp:
                continue
            self.pod = pod.metadata.name
            self.seen.setdefault("created", now)
            for cond in pod.status.conditions or []:
                if cond.status == "True":
                    self.seen.setdefault(cond.type, now)

    def stop(self) -> None:
        self._stream.stop()


def log_lines(namespace: str, pod: str, container: str) -> list[tuple[float, str]]:
    """(timestamp, text) of each line the container wrote, by the kubelet's clock."""
    text = kubectl("logs", "-n", namespace, pod, "-c", container, "--timestamps")
    lines = []
    for raw in text.splitlines():
        stamp, _, message = raw.partition(" ")
        lines.append((parse_time(stamp), message))
    return lines


def parse_time(stamp: str) -> float:
    """An RFC 3339 timestamp with nanoseconds, as kubectl logs --timestamps prints it."""
    head, _, fraction = stamp.rstrip("Z").partition(".")
    whole = datetime.fromisoformat(head + "+00:00").timestamp()
    return whole + float(f"0.{fraction or '0'}")


def pods_of(namespace: str, deployment: str) -> list[dict]:
    selector = f"modelserve.io/endpoint={ENDPOINT},modelserve.io/deployment={deployment}"
    return kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]


def first_answer(cluster_ip: str, deployment: str, timeout: float = 300.0) -> float:
    """time.time() of the first 200 the router returns for a call pinned to `deployment`.
    Run inside the client pod's network namespace (`--first-answer`): a ClusterIP is a
    cluster address, not one of this machine's."""
    body = json.dumps({"data": ROWS}).encode()
    headers = {"Content-Type": "application/json", PIN_HEADER: deployment}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = urllib.request.Request(f"http://{cluster_ip}/score", body, headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.headers.get(PIN_HEADER) == deployment:
                    return time.time()
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"no answer from {deployment} within {timeout:.0f} s")


def start_polling(netns: str, cluster_ip: str, deployment: str) -> subprocess.Popen:
    """This script's `--first-answer`, in the client pod's network namespace."""
    argv = [sys.executable, __file__, "--first-answer", cluster_ip, deployment]
    return subprocess.Popen(["nsenter", f"--net={netns}", *argv], stdout=subprocess.PIPE, text=True)


def polled_answer(poller: subprocess.Popen) -> float:
    out, _ = poller.communicate(timeout=330)
    if poller.returncode != 0:
        raise SystemExit(f"the poller in the client pod failed (exit {poller.returncode})")
    return float(out.strip())


def one_round(
    core: client.CoreV1Api, namespace: str, netns: str, cluster_ip: str, name: str
) -> dict:
    pods = PodWatch(core, namespace, name)
    # the poller's own start (about 0.1 s) is paid before the apply, not inside the split
    poller = start_polling(netns, cluster_ip, name)
    time.sleep(0.5)  # the watch is open before the apply
    applied = time.time()
    apply_endpoint(namespace, [name])
    answered = polled_answer(poller)
    pods.stop()
    assert pods.pod is not None
    init = log_lines(namespace, pods.pod, "fetch-model")
    server = log_lines(namespace, pods.pod, "scoring")
    ready_line = next(t for t, m in server if m.rstrip().endswith("is ready"))
    # the check may still run when the pod answers: wait for its line (it comes within seconds)
    deadline = time.monotonic() + 60
    while not any("serving with ONNX Runtime" in m for _, m in server):
        if time.monotonic() > deadline:
            raise SystemExit(f"{pods.pod}: no 'serving with ONNX Runtime' line within 60 s")
        time.sleep(0.5)
        server = log_lines(namespace, pods.pod, "scoring")
    compiled = next((t, m) for t, m in server if "serving with ONNX Runtime" in m)
    compile_s = float(COMPILE_LINE.search(compiled[1]).group(1))
    background = compiled[0] > ready_line
    compile_start = ready_line if background else compiled[0] - compile_s
    compile_end = ready_line if background else compiled[0]
    marks = {
        "schedule": (applied, pods.seen["PodScheduled"]),
        "sandbox+init": (pods.seen["PodScheduled"], init[0][0]),
        "fetch+digest": (init[0][0], init[-1][0]),
        "server start": (init[-1][0], server[0][0]),
        "load": (server[0][0], compile_start),
        "compile": (compile_start, compile_end),
        "warm-up": (compile_end, ready_line),
        "readiness": (ready_line, pods.seen["Ready"]),
        "routed": (pods.seen["Ready"], answered),
    }
    split = {phase: end - start for phase, (start, end) in marks.items()}
    split["total"] = answered - applied
    split["background check"] = compile_s if background else 0.0
    return split


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="modelserve-quickstart")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write every round's split here")
    parser.add_argument("--first-answer", nargs=2, metavar=("CLUSTER_IP", "DEPLOYMENT"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.first_answer:  # inside the client pod's network namespace
        print(first_answer(*args.first_answer))
        return 0
    # the quickstart's cluster unless told otherwise; kubectl (cluster_tools) reads it too
    os.environ.setdefault("KUBECONFIG", str(Path.home() / ".modelserve/kind-kubeconfig"))
    config.load_kube_config(os.environ["KUBECONFIG"])
    core = client.CoreV1Api()

    apply_endpoint(args.namespace, [])
    wait(lambda: endpoint_ready(args.namespace), f"endpoint {ENDPOINT} Ready")
    service = kubectl_json("get", "service", ENDPOINT, "-n", args.namespace)
    cluster_ip = service["spec"]["clusterIP"]
    start_client_pod(args.namespace, real_node(), CLIENT_POD, CLIENT_IMAGE)
    netns = client_netns(args.namespace, CLIENT_POD)
    polled_answer(start_polling(netns, cluster_ip, "base"))

    rounds = []
    for index in range(args.rounds):
        name = f"r{int(time.time())}{index}"
        split = one_round(core, args.namespace, netns, cluster_ip, name)
        rounds.append(split)
        print(f"round {index + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in split.items()))
        apply_endpoint(args.namespace, [])  # the next round starts from the same state
        wait(lambda name=name: not pods_of(args.namespace, name), f"the pods of {name} gone")

    print(f"\ncold start, median of {len(rounds)} rounds (seconds):")
    for phase in (*PHASES, "total", "background check"):
        values = [r[phase] for r in rounds]
        print(f"  {phase:<14} {statistics.median(values):6.2f}   (min {min(values):.2f})")
    total = statistics.median(r["total"] for r in rounds)
    print(f"  goal ≤ 5.00 s apply → first answer: {'met' if total <= 5 else 'not met'}")
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=1))
    kubectl("delete", "onlineendpoint", ENDPOINT, "-n", args.namespace, "--wait=false")
    kubectl("delete", "pod", CLIENT_POD, "-n", args.namespace, "--wait=false")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
