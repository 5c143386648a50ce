"""Instructions per request of our scoring server, counted by callgrind: a figure this noisy
machine cannot move, unlike req/s and CPU time (which swing 2x between rounds here).

Each tree's server runs in-process: its ASGI app behind uvicorn's httptools protocol (ours
adds its connection guards), fed one-row v2 requests over `--connections` keep-alive
connections through in-memory transports, so parsing, the app, the micro-batcher, ONNX
Runtime and writing the answer are counted, and the kernel is not (no sockets). Two runs per
tree, of N and 5N requests, instrumented only while requests are served; the difference over
4N requests is the cost of one request, with start-up and warm-up cancelled out.

    .venv/bin/python bench/request_cost.py --trees /tmp/before,. [--connections 64]

A tree is a checkout (its serving-image/ is put first on PYTHONPATH). Needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from models import build_model, request_rows, v2_infer_body
from servers import build_launch

BENCH_DIR = Path(__file__).resolve().parent
WARM_UP_ROUNDS = 50


class _Transport(asyncio.Transport):
    """Counts the answers written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.answers = 0
        self.closing = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 40000)}.get(
            name, default
        )

    def write(self, data: bytes) -> None:
        # count(), not `in`: the answers written are the only figure this needs
        self.answers += data.count(b"HTTP/1.1 200 ")

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


class _Captured(Exception):
    """Raised in place of running the server: the Config its `serve()` built is all we need."""


def _config_of_serve() -> tuple[object, object]:
    """(uvicorn Config, scoring service) exactly as this tree's `serve()` builds them."""
    import uvicorn
    from modelserve_scoring import server
    from modelserve_scoring.settings import ScoringSettings

    captured = {}

    def capture(self: uvicorn.Server, *args: object, **kwargs: object) -> None:
        captured["config"] = self.config
        raise _Captured

    uvicorn.Server.run = capture  # type: ignore[method-assign]
    with contextlib.suppress(_Captured):
        server.serve(ScoringSettings())
    config = captured["config"]
    app = config.app
    # before issue 15 the app held the service; since, the data plane does
    service = getattr(app, "service", None) or app.dataplane.service
    return config, service


async def _serve(requests: int, connections: int, request: bytes) -> None:
    from uvicorn.lifespan.on import LifespanOn
    from uvicorn.server import ServerState

    config, service = _config_of_serve()
    config.load()
    protocol = config.http_protocol_class
    lifespan = LifespanOn(config)
    await lifespan.startup()
    # polled: the trees differ in how readiness is told (a method, or before, a property)
    while not (service.ready() if callable(service.ready) else service.ready):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    state = ServerState()
    pairs = []
    for _ in range(connections):
        transport = _Transport()
        connection = protocol(config=config, server_state=state, app_state={}, _loop=loop)
        connection.connection_made(transport)
        pairs.append((connection, transport))

    async def rounds(count: int) -> None:
        start = [transport.answers for _, transport in pairs]
        for done in range(1, count + 1):
            for connection, _ in pairs:
                connection.data_received(request)
            # the loop runs the requests' tasks between these checks; nothing signals an answer
            while any(t.answers - s < done for (_, t), s in zip(pairs, start, strict=True)):  # noqa: ASYNC110
                await asyncio.sleep(0)

    await rounds(WARM_UP_ROUNDS)
    gc.collect()
    # blocking on purpose: nothing of the server may run while the counting is switched
    pid = str(os.getpid())
    on, off = ["callgrind_control", "-i", "on", pid], ["callgrind_control", "-i", "off", pid]
    subprocess.run(on, check=True, capture_output=True)  # noqa: ASYNC221
    await rounds(requests // connections)
    subprocess.run(off, check=True, capture_output=True)  # noqa: ASYNC221
    os._exit(0)  # the model's threads and the lifespan need no orderly end here


def _worker(requests: int, connections: int, workdir: Path) -> None:
    model = build_model("logreg", workdir)
    os.environ.update(build_launch("ours", model).env)
    os.environ["MODELSERVE_METRICS_PORT"] = "0"
    body = v2_infer_body(request_rows(1))
    request = (
        f"POST /v2/models/{model.name}/infer HTTP/1.1\r\nHost: bench\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    import uvloop

    uvloop.run(_serve(requests, connections, request))


def _instructions(tree: Path, requests: int, connections: int, workdir: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(tree / "serving-image")}
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={workdir}/callgrind.%p",
        sys.executable,
        __file__,
        "--worker",
        str(requests),
        "--connections",
        str(connections),
        "--workdir",
        str(workdir),
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{tree}: the instrumented run failed:\n{done.stderr[-3000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", default=".", help="comma-separated checkouts; first is base")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--requests", type=int, default=640, help="N: runs of N and 5N")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        _worker(args.worker, args.connections, args.workdir)
        return
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    costs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tree in trees:
            small = _instructions(tree, args.requests, args.connections, Path(tmp))
            large = _instructions(tree, 5 * args.requests, args.connections, Path(tmp))
            costs[tree] = (large - small) / (4 * args.requests)
    base = costs[trees[0]]
    print(f"one-row v2 requests over {args.connections} connections, instructions per request")
    print("| tree | instructions | against the first |\n|---|---:|---:|")
    for tree, cost in costs.items():
        print(f"| {tree} | {cost:,.0f} | {cost / base:.3f}x |")


if __name__ == "__main__":
    main()
