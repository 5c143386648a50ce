"""System calls per request of our scoring server under wrk, counted by `strace -c`: like the
instructions of request_cost.py, a figure the machine's load moves far less than req/s.

Each server (an `ours` variant, as bench/scoring.py names them) serves the one-row v2 request
of bench/scoring.py to `--clients` keep-alive connections; after a warm-up, strace attaches to
every thread of the server for one wrk run and the calls are divided by the requests answered.
strace slows each call down, so the server batches and waits differently than unobserved: the
counts compare servers, they are not the syscalls of an unobserved server.

    .venv/bin/python bench/request_syscalls.py \
        --servers ours:source=/tmp/before,ours:source=. [--clients 64]

Needs strace and wrk.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from models import build_model, request_rows, v2_infer_body
from scoring import RunningServer, run_wrk
from servers import build_launch, split_server_list

#: how many of the commonest calls the table names one by one
SHOWN_CALLS = 6


def _strace_counts(report: Path) -> dict[str, int]:
    """{syscall: calls} from an `strace -c` summary (the error column may be empty)."""
    counts = {}
    for line in report.read_text().splitlines():
        fields = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(fields) in (5, 6) and fields[3].isdigit() and fields[-1].isidentifier():
            counts[fields[-1]] = int(fields[3])
    counts.pop("total", None)  # strace's own sum; summed again by the caller
    return counts


def syscalls_per_request(spec: str, clients: int, seconds: float, workdir: Path) -> dict:
    """{syscall: calls per request} of one server under wrk, and "total"."""
    model = build_model("logreg", workdir)
    body = workdir / "body-1.json"
    body.write_bytes(v2_infer_body(request_rows(1)))
    launch = build_launch(spec, model)
    server = RunningServer(launch, workdir / "run", cpu=None, nice=0)
    try:
        server.wait_ready(model.name, timeout=180)
        url = f"{launch.base_url}/v2/models/{model.name}/infer"
        run_wrk(url, body, clients, 2, None, 0)  # warm-up: the same load, unobserved
        report = workdir / "strace.txt"
        strace = subprocess.Popen(
            ["strace", "-c", "-f", "-p", str(server.process.pid), "-o", str(report)],
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)  # strace has attached to every thread
        load = run_wrk(url, body, clients, seconds, None, 0)
        strace.terminate()
        strace.wait(timeout=30)
    finally:
        server.stop()
    if load.non200 or load.socket_errors or not load.requests:
        raise SystemExit(f"{spec}: {load.non200} non-200 answers, {load.socket_errors} errors")
    per_request = {name: n / load.requests for name, n in _strace_counts(report).items()}
    per_request["total"] = sum(per_request.values())
    return per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="ours", help="comma-separated; the first is base")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds observed")
    args = parser.parse_args()
    specs = split_server_list(args.servers)
    counts = {}
    for spec in specs:
        with tempfile.TemporaryDirectory() as tmp:
            counts[spec] = syscalls_per_request(spec, args.clients, args.duration, Path(tmp))
    base = counts[specs[0]]
    common = sorted(base, key=lambda name: -base[name])
    shown = [name for name in common if name != "total"][:SHOWN_CALLS]
    print(f"one-row v2 requests over {args.clients} connections, system calls per request")
    print("| server | total | against the first | " + " | ".join(shown) + " |")
    print("|---|---:|---:|" + "---:|" * len(shown))
    for spec, calls in counts.items():
        cells = " | ".join(f"{calls.get(name, 0):.2f}" for name in shown)
        ratio = calls["total"] / base["total"]
        print(f"| {spec} | {calls['total']:.2f} | {ratio:.3f}x | {cells} |")


if __name__ == "__main__":
    main()
