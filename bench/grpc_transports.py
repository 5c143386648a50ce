"""What a gRPC call costs on each Python HTTP/2 server, before any work of a server's own.

Each server answers `ModelInfer` with the same empty message (bench/peers/grpc_echo.py):
grpcio (what ours runs on), uvicorn's HTTP/2 (zttp) and hypercorn (h2). ghz sends the same
call as bench/scoring.py's gRPC rows, on one HTTP/2 connection; server on one CPU, ghz on
the other; rounds interleaved, medians. A call that does not end OK is counted: a server
that resets its clients' connections is not a faster server.

    bench/setup_peers.sh                             # once: the transports' venv
    .venv/bin/python bench/grpc_transports.py        # 3 rounds x 8 s per cell
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from grpc_load import ghz_binary, infer_message, run_ghz
from servers import BENCH_DIR, PEER_CACHE, PROJECT_VENV, SIDE_PORT_A

SERVERS = {
    "grpcio": PROJECT_VENV / "bin/python",
    "uvicorn": PEER_CACHE / "transports-venv/bin/python",
    "hypercorn": PEER_CACHE / "transports-venv/bin/python",
}


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"echo server exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"echo server not listening on {port} after {timeout:.0f} s")


def measure(kind: str, clients: list[int], args: argparse.Namespace, body: Path) -> dict:
    """Start one echo server, run ghz at each client count, stop it."""
    argv = [str(SERVERS[kind]), str(BENCH_DIR / "peers/grpc_echo.py"), kind, str(SIDE_PORT_A)]
    server = subprocess.Popen(["taskset", "-c", args.server_cpu, *argv])
    try:
        wait_for_port(SIDE_PORT_A, server)
        prefix = ["taskset", "-c", args.loader_cpu]
        run_ghz(args.ghz, SIDE_PORT_A, body, clients[0], args.warmup, prefix)
        return {n: run_ghz(args.ghz, SIDE_PORT_A, body, n, args.duration, prefix) for n in clients}
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--clients", default="8,64")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--loader-cpu", default="1")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    missing = [k for k in kinds if k not in SERVERS or not SERVERS[k].exists()]
    if missing:
        raise SystemExit(f"missing: {missing} (run bench/setup_peers.sh)")
    clients = [int(n) for n in args.clients.split(",")]
    args.ghz = ghz_binary()
    body = Path(tempfile.mkdtemp()) / "infer.bin"
    body.write_bytes(infer_message("echo", np.zeros((1, 20))))
    runs: dict[tuple[str, int], list[dict]] = {}
    for round_number in range(args.rounds):
        order = kinds[round_number % len(kinds) :] + kinds[: round_number % len(kinds)]
        for kind in order:
            for n, figures in measure(kind, clients, args, body).items():
                runs.setdefault((kind, n), []).append(figures)
                print(f"[round {round_number + 1}] {kind} x{n}: {figures}", flush=True)
    print("\n| server | concurrent calls | calls/s (median) | p99 ms | calls not OK | / grpcio |")
    print("|---|---:|---:|---:|---:|---:|")
    for n in clients:
        base = statistics.median(r["requests"] / r["seconds"] for r in runs[("grpcio", n)])
        for kind in kinds:
            rounds = runs[(kind, n)]
            rate = statistics.median(r["requests"] / r["seconds"] for r in rounds)
            p99 = statistics.median(r["p99_ms"] for r in rounds)
            not_ok = sum(r["non_ok"] for r in rounds)
            total = not_ok + sum(r["requests"] for r in rounds)
            print(
                f"| {kind} | {n} | {rate:,.0f} | {p99:.1f} | {not_ok:,} of {total:,} "
                f"| {rate / base:.2f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
