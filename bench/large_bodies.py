"""Large bodies against small ones: does a client posting big requests stall everyone else?

One client sends one-row v2 requests (wrk, one connection, closed loop) for `--duration`
seconds, first alone, then while another client posts `--large-mb` bodies back to back. It
prints the small client's p99 with and without the large one, and their ratio (issue 16,
item 3: at most 3x), per server variant, in interleaved rounds (medians).

    .venv/bin/python bench/large_bodies.py --servers ours:decode_offload_bytes=0,ours

`ours:decode_offload_bytes=0` decodes every body on the event loop, as the server did before
large bodies went to a worker process.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path

from models import build_model, request_rows, v2_infer_body
from scoring import BenchError, LoadResult, RunningServer, check_answers, run_wrk
from servers import HTTP_PORT, build_launch


class LargeClient(threading.Thread):
    """Posts one body over and over on a keep-alive connection until stopped."""

    def __init__(self, path: str, body: bytes) -> None:
        super().__init__(daemon=True)
        self.path, self.body = path, body
        self.halt = threading.Event()
        self.statuses: dict[int, int] = {}

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=120)
        headers = {"Content-Type": "application/json"}
        while not self.halt.is_set():
            connection.request("POST", self.path, self.body, headers)
            response = connection.getresponse()
            response.read()
            self.statuses[response.status] = self.statuses.get(response.status, 0) + 1


def measure(spec: str, model, bodies: dict[int, Path], large: bytes, args, rundir: Path) -> dict:
    """Start the server, time the small client alone and beside the large one, stop it."""
    launch = build_launch(spec, model)
    server = RunningServer(launch, rundir, args.server_cpu, 0)
    try:
        server.wait_ready(model.name, 120)
        check_answers(launch, model, bodies)
        path = f"/v2/models/{model.name}/infer"
        url = launch.base_url + path
        small = bodies[1]
        run_wrk(url, small, 1, args.warmup, args.loader_cpu, 0)
        alone = run_wrk(url, small, 1, args.duration, args.loader_cpu, 0)
        client = LargeClient(path, large)
        client.start()
        try:
            beside = run_wrk(url, small, 1, args.duration, args.loader_cpu, 0)
        finally:
            client.halt.set()
            client.join(timeout=120)
    finally:
        server.stop()
    for result in (alone, beside):
        if result.non200 or result.socket_errors:
            raise BenchError(f"{spec}: small client got errors: {result}")
    return {"alone": alone, "beside": beside, "large": client.statuses}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="ours:decode_offload_bytes=0,ours")
    parser.add_argument("--model", default="logreg")
    parser.add_argument("--large-mb", type=float, default=8.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--loader-cpu", default="1")
    args = parser.parse_args(argv)
    if args.loader_cpu:
        # the large client runs in this process: on the loader's core, not the server's
        os.sched_setaffinity(0, {int(c) for c in args.loader_cpu.split(",")})
    workdir = Path(tempfile.mkdtemp(prefix="modelserve-large-bodies-"))
    model = build_model(args.model, workdir / "models")
    bodies = {1: workdir / "infer-1-row.json"}
    bodies[1].write_bytes(v2_infer_body(request_rows(1)))
    rows_per_mb = 1_000_000 // len(v2_infer_body(request_rows(100))) * 100
    large = v2_infer_body(request_rows(int(args.large_mb * rows_per_mb)))
    print(f"large body: {len(large) / 1e6:.1f} MB", file=sys.stderr)
    specs = [s.strip() for s in args.servers.split(",") if s.strip()]
    results: dict[str, list[dict]] = {spec: [] for spec in specs}
    for round_index in range(args.rounds):
        shift = round_index % len(specs)
        for spec in specs[shift:] + specs[:shift]:
            rundir = workdir / f"r{round_index}-{spec.replace(':', '_').replace('=', '_')}"
            outcome = measure(spec, model, bodies, large, args, rundir)
            alone: LoadResult = outcome["alone"]
            beside: LoadResult = outcome["beside"]
            print(
                f"[round {round_index + 1}] {spec}: small p99 {alone.p99_ms:.1f} ms alone, "
                f"{beside.p99_ms:.1f} ms beside the large client ({beside.requests} requests; "
                f"large client answers {outcome['large']})",
                file=sys.stderr,
            )
            results[spec].append(outcome)
    print(f"\nLarge client: {len(large) / 1e6:.1f} MB v2 bodies back to back; small client: one")
    print(f"1-row request at a time; {args.rounds} rounds x {args.duration:g} s, medians.\n")
    print("| server | small p99 alone | small p99 beside large | ratio | small req/s beside |")
    print("|---|---:|---:|---:|---:|")
    for spec, outcomes in results.items():
        alone_p99 = statistics.median(o["alone"].p99_ms for o in outcomes)
        beside_p99 = statistics.median(o["beside"].p99_ms for o in outcomes)
        rps = statistics.median(o["beside"].rps for o in outcomes)
        print(
            f"| {spec} | {alone_p99:.1f} ms | {beside_p99:.1f} ms | "
            f"{beside_p99 / alone_p99:.1f}x | {rps:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
