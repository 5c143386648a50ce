"""Scoring benchmark: our server against MLServer and KServe on the same model and load.

Run with the project's venv:  .venv/bin/python bench/scoring.py [--quick]
See bench/README.md for what is measured and how to read the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from grpc_load import (
    GrpcLoadError,
    first_output,
    ghz_binary,
    infer_message,
    run_ghz,
    wait_grpc_ready,
)
from models import (
    MODEL_TRAINERS,
    BenchModel,
    build_model,
    expected_predictions,
    expected_probabilities,
    request_rows,
    v2_infer_body,
)
from servers import (
    BENCH_DIR,
    HTTP_PORT,
    PEER_CACHE,
    PEERS,
    PROJECT_VENV,
    SIDE_PORT_A,
    ServerLaunch,
    build_launch,
    missing_prerequisites,
    server_kind,
    split_server_list,
)

LUA_SCRIPT = BENCH_DIR / "post_json.lua"
THROUGHPUT_GOAL = 2.5
# issue 9: against the better peer, a compiled forest at >= 10x and logistic regression >= 4x;
# issue 20: the gradient-boosted trees >= 10x
MODEL_GOALS = {"rf100": 10.0, "logreg": 4.0, "xgb500": 10.0, "lgbm500": 10.0}
# How far a peer's P(class 1) may be from the local booster's (float32 boosters round there).
PROBABILITY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Scenario:
    """`rows` feature rows per request, sent by `clients` concurrent connections (wrk, REST)
    or by `clients` concurrent calls on one HTTP/2 connection (ghz, gRPC)."""

    rows: int
    clients: int
    protocol: str = "rest"

    @property
    def label(self) -> str:
        label = f"{self.rows} row{'s' if self.rows > 1 else ''} x {self.clients} clients"
        return label if self.protocol == "rest" else f"{label}, gRPC"

    @classmethod
    def parse(cls, text: str) -> Scenario:
        match = re.fullmatch(r"(\d+)x(\d+)", text.strip())
        if not match:
            raise argparse.ArgumentTypeError(
                f"scenario {text!r} must look like ROWSxCLIENTS, e.g. 1x8"
            )
        return cls(rows=int(match[1]), clients=int(match[2]))


@dataclass
class LoadResult:
    """One wrk run: throughput, latency percentiles and every kind of failure."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non200: int
    socket_errors: int
    first_bad_status: int
    #: CPU time the server's processes spent per request (user + system): on a shared machine
    #: it moves far less than req/s does when other work competes for the cores
    cpu_us_per_request: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class BenchError(RuntimeError):
    """A server could not be started, answered wrongly, or the loader failed."""


def pinned(argv: list[str], cpu: str | None, nice: int) -> list[str]:
    """Prefix `argv` with taskset (same core layout for every server) and nice."""
    if nice:
        argv = ["nice", "-n", str(nice), *argv]
    return argv if cpu is None else ["taskset", "-c", cpu, *argv]


def run_wrk(
    url: str, body_file: Path, clients: int, seconds: float, loader_cpu: str | None, nice: int
) -> LoadResult:
    argv = [
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
        str(body_file),
    ]
    completed = subprocess.run(
        pinned(argv, loader_cpu, nice),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    line = next(
        (ln for ln in completed.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None
    )
    if completed.returncode != 0 or line is None:
        raise BenchError(
            f"wrk failed (exit {completed.returncode}): {completed.stderr or completed.stdout}"
        )
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        non200=raw["non200"],
        socket_errors=raw["connect_errors"]
        + raw["read_errors"]
        + raw["write_errors"]
        + raw["timeouts"],
        first_bad_status=raw["first_bad_status"],
    )


def http_post_json(url: str, body: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def port_is_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class RunningServer:
    """One server process group, pinned to `cpu`, logging to a file."""

    def __init__(self, launch: ServerLaunch, rundir: Path, cpu: str | None, nice: int) -> None:
        self.launch = launch
        self.rundir = rundir
        rundir.mkdir(parents=True, exist_ok=True)
        for relative, text in launch.files.items():
            (rundir / relative).parent.mkdir(parents=True, exist_ok=True)
            (rundir / relative).write_text(text)
        self.log_path = rundir / "server.log"
        argv = pinned(launch.argv, cpu, nice)
        with self.log_path.open("ab") as log:
            # A session of its own so stop() reaches every worker it forks, and only those.
            self.process = subprocess.Popen(
                argv,
                cwd=rundir,
                env={**os.environ, **launch.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def cpu_seconds(self) -> float:
        """User + system CPU time of every live process of the server's session so far."""
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone meanwhile
            # after the command name: state ppid pgrp session ... utime (12th) stime (13th)
            if int(fields[3]) == self.process.pid:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, model_name: str, timeout: float) -> None:
        url = f"{self.launch.base_url}/v2/models/{model_name}/ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise BenchError(
                    f"{self.launch.label} exited with {code} before ready:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise BenchError(
            f"{self.launch.label} not ready at {url} after {timeout:.0f}s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Workers forked into the same group may outlive their leader.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        for port in (HTTP_PORT, SIDE_PORT_A):
            while port_is_open(port):
                if time.monotonic() > deadline:
                    raise BenchError(f"port {port} still busy after stopping {self.launch.label}")
                time.sleep(0.1)


def check_answers(launch: ServerLaunch, model: BenchModel, bodies: dict[int, Path]) -> None:
    """Every server must return the model's own predictions before it is timed.

    A server that answers a binary booster's probabilities (`launch.answers`) must give the
    local model's P(class 1) per row, and those probabilities must make its labels."""
    url = f"{launch.base_url}/v2/models/{model.name}/infer"
    for rows, body_file in bodies.items():
        status, raw = http_post_json(url, body_file.read_bytes())
        if status != 200:
            raise BenchError(f"{launch.label}: {rows}-row infer answered {status}: {raw[:500]!r}")
        outputs = json.loads(raw).get("outputs") or []
        if not outputs:
            raise BenchError(f"{launch.label}: {rows}-row infer returned no outputs: {raw[:500]!r}")
        compare_answer(launch, model, rows, [float(v) for v in outputs[0]["data"]])


def check_grpc_answers(launch: ServerLaunch, model: BenchModel, bodies: dict[int, Path]) -> None:
    """check_answers over gRPC: the first output of each gRPC body's answer."""
    assert launch.grpc_port is not None
    for rows, body_file in bodies.items():
        compare_answer(launch, model, rows, first_output(launch.grpc_port, body_file.read_bytes()))


def compare_answer(launch: ServerLaunch, model: BenchModel, rows: int, got: list[float]) -> None:
    """The answer to the `rows`-row request must be the model's own (see check_answers)."""
    features = request_rows(rows, model.n_features)
    want = expected_predictions(model, features)
    if launch.answers == "probabilities":
        probabilities = expected_probabilities(model, features)
        close = len(got) == len(probabilities) and all(
            abs(g - p) <= PROBABILITY_TOLERANCE for g, p in zip(got, probabilities, strict=True)
        )
        # The wrappers' predict is the class with the larger probability: P(1) > 0.5.
        if not close or [float(g > 0.5) for g in got] != want:
            raise BenchError(
                f"{launch.label}: {rows}-row probabilities differ: got {got[:8]}, "
                f"want {probabilities[:8]} (labels {want[:8]})"
            )
    elif got != want:
        raise BenchError(
            f"{launch.label}: {rows}-row predictions differ: got {got[:8]}, want {want[:8]}"
        )


def ours_is_runnable() -> str | None:
    """None when `modelserve-scoring serve --help` works, else why not."""
    binary = PROJECT_VENV / "bin/modelserve-scoring"
    try:
        completed = subprocess.run(
            [str(binary), "serve", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError as error:
        return str(error)
    if completed.returncode != 0:
        output = (completed.stderr or completed.stdout).strip().splitlines()
        return output[-1] if output else f"exit {completed.returncode}"
    return None


def package_versions(python: Path, packages: list[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: out[name] = 'absent'\n"
        "print(json.dumps(out))"
    )
    if not python.exists():
        return {}
    completed = subprocess.run(
        [str(python), "-c", code, *packages],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return json.loads(completed.stdout) if completed.returncode == 0 else {}


def describe_environment(specs: list[str], server_cpu: str | None, loader_cpu: str | None) -> dict:
    cpu_model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    versions: dict[str, dict[str, str]] = {}
    kinds = {server_kind(spec) for spec in specs}
    common = [
        "scikit-learn",
        "xgboost-cpu",
        "lightgbm",
        "numpy",
        "joblib",
        "uvicorn",
        "fastapi",
        "orjson",
        "uvloop",
    ]
    if kinds & {"ours", "bare"}:
        versions["project venv"] = package_versions(
            PROJECT_VENV / "bin/python", ["modelserve", *common]
        )
    if "mlserver" in kinds:
        versions["mlserver venv"] = package_versions(
            PEER_CACHE / "mlserver-venv/bin/python",
            ["mlserver", "mlserver-sklearn", "mlserver-xgboost", "mlserver-lightgbm", *common],
        )
    if "kserve" in kinds:
        versions["kserve venv"] = package_versions(
            PEER_CACHE / "kserve-venv/bin/python", ["kserve", *common]
        )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": (wrk_version.stdout or wrk_version.stderr).splitlines()[0] if wrk_version else "?",
        "server_cpu": server_cpu,
        "loader_cpu": loader_cpu,
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "versions": versions,
    }


def median_row(results: list[LoadResult]) -> dict:
    return {
        "rps": statistics.median(r.rps for r in results),
        "p50_ms": statistics.median(r.p50_ms for r in results),
        "p99_ms": statistics.median(r.p99_ms for r in results),
        "cpu_us": statistics.median(r.cpu_us_per_request for r in results),
        "non200": sum(r.non200 for r in results),
        "socket_errors": sum(r.socket_errors for r in results),
        "requests": sum(r.requests for r in results),
        "rounds": len(results),
    }


def render_markdown(env: dict, settings: dict, table: dict, failures: list[str]) -> str:
    lines = ["## Environment", ""]
    lines.append(f"- CPUs: {env['cpus']} x {env['cpu_model']}; kernel {env['kernel']}")
    pinning = (
        f"servers pinned to CPU {env['server_cpu']}, wrk to CPU {env['loader_cpu']}"
        if env["server_cpu"] is not None
        else "no CPU pinning"
    )
    if env.get("nice"):
        pinning += f", both at nice {env['nice']}"
    lines.append(
        f"- {pinning}; one server running at a time; 1/5/15-min load average "
        f"{' '.join(env['loadavg_start'])} at start, "
        f"{' '.join(env.get('loadavg_end', ['?']))} at end"
    )
    lines.append(f"- loader: {env['wrk']} (1 thread, closed loop, keep-alive)")
    if env.get("ghz"):
        lines.append(
            "- gRPC loader: ghz v0.120.0 (one HTTP/2 connection, `clients` concurrent calls, "
            "closed loop; rows as raw_input_contents FP64); non-200 counts non-OK statuses"
        )
    lines.append(
        f"- {settings['rounds']} round(s) x {settings['duration']} s per scenario after "
        f"{settings['warmup']} s warm-up; servers interleaved per round; medians across rounds"
    )
    for venv, versions in env["versions"].items():
        lines.append(f"- {venv}: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    lines += ["", "## Results", ""]
    lines.append(
        "| model | scenario | server | req/s | p50 ms | p99 ms | server CPU µs/req | non-200 "
        "| socket errors |"
    )
    lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for (model, scenario, server), row in table.items():
        lines.append(
            f"| {model} | {scenario} | {server} | {row['rps']:.0f} | {row['p50_ms']:.1f} | "
            f"{row['p99_ms']:.1f} | {row['cpu_us']:.0f} | {row['non200']} | "
            f"{row['socket_errors']} |"
        )
    ratio_lines = []
    for (model, scenario, ours), row in table.items():
        if server_kind(ours) != "ours":
            continue
        for (model2, scenario2, theirs), peer in table.items():
            if (model2, scenario2) != (model, scenario) or server_kind(theirs) not in PEERS:
                continue
            throughput = row["rps"] / peer["rps"] if peer["rps"] else float("inf")
            p99 = row["p99_ms"] / peer["p99_ms"] if peer["p99_ms"] else float("inf")
            clean = row["non200"] == 0 and row["socket_errors"] == 0
            met = "yes" if throughput >= THROUGHPUT_GOAL and p99 <= 1.0 and clean else "no"
            ratio_lines.append(
                f"| {model} | {scenario} | {ours} / {theirs} "
                f"| {throughput:.2f}x | {p99:.2f}x | {met} |"
            )
    if ratio_lines:
        lines += [
            "",
            f"## Ratios ours / theirs (goal: throughput ≥ {THROUGHPUT_GOAL}x, p99 ≤ 1x)",
            "",
        ]
        lines.append("| model | scenario | pair | throughput | p99 latency | goal met |")
        lines.append("|---|---|---|---:|---:|---|")
        lines += ratio_lines
    best_lines = _better_peer_lines(table)
    if best_lines:
        goals = ", ".join(f"{m} ≥ {g:g}x" for m, g in MODEL_GOALS.items())
        lines += [
            "",
            f"## Ours against the better peer (goals: {goals}, others ≥ {THROUGHPUT_GOAL}x; "
            "p99 below every peer)",
            "",
            "| model | scenario | ours | better peer | throughput | worst p99 ratio | goal met |",
            "|---|---|---|---|---:|---:|---|",
            *best_lines,
        ]
    ceiling_lines = _ceiling_lines(table)
    if ceiling_lines:
        lines += [
            "",
            "## The ceiling: `bare` (decode, predict, encode; with cache=true, the transport "
            "alone) against the better peer and ours",
            "",
            "| model | scenario | bare | req/s | bare / better peer | ours | ours / bare |",
            "|---|---|---|---:|---:|---|---:|",
            *ceiling_lines,
        ]
    if failures:
        lines += ["", "## Failures", ""] + [f"- {failure}" for failure in failures]
    return "\n".join(lines) + "\n"


def _ceiling_lines(table: dict) -> list[str]:
    """Per model and scenario with a `bare` row: how far above the better peer a server doing
    nothing but decode, predict and encode gets, on the same transport; and ours against it."""
    lines = []
    for (model, scenario, bare), ceiling in table.items():
        if server_kind(bare) != "bare":
            continue
        same = {s: r for (m, sc, s), r in table.items() if (m, sc) == (model, scenario)}
        peers = [r["rps"] for s, r in same.items() if server_kind(s) in PEERS]
        best = max(peers, default=0.0)
        versus_peer = f"{ceiling['rps'] / best:.2f}x" if best else "-"
        for ours, row in same.items():
            if server_kind(ours) != "ours":
                continue
            versus_bare = row["rps"] / ceiling["rps"] if ceiling["rps"] else float("inf")
            lines.append(
                f"| {model} | {scenario} | {bare} | {ceiling['rps']:.0f} | {versus_peer} | {ours} "
                f"| {versus_bare:.2f}x |"
            )
    return lines


def _better_peer_lines(table: dict) -> list[str]:
    """Per model, scenario and variant of ours: the ratio to the faster peer (by req/s) and
    the largest p99 ratio to any peer."""
    lines = []
    for (model, scenario, ours), row in table.items():
        if server_kind(ours) != "ours":
            continue
        peers = {
            theirs: peer
            for (model2, scenario2, theirs), peer in table.items()
            if (model2, scenario2) == (model, scenario) and server_kind(theirs) in PEERS
        }
        if not peers:
            continue
        best = max(peers, key=lambda name: peers[name]["rps"])
        throughput = row["rps"] / peers[best]["rps"] if peers[best]["rps"] else float("inf")
        p99 = max(row["p99_ms"] / p["p99_ms"] if p["p99_ms"] else 0.0 for p in peers.values())
        goal = MODEL_GOALS.get(model, THROUGHPUT_GOAL)
        clean = row["non200"] == 0 and row["socket_errors"] == 0
        met = "yes" if throughput >= goal and p99 < 1.0 and clean else "no"
        lines.append(
            f"| {model} | {scenario} | {ours} | {best} | {throughput:.2f}x | {p99:.2f}x | {met} |"
        )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--servers",
        default="ours:runtime=auto,ours:runtime=sklearn,mlserver,kserve",
        help="comma-separated: ours[:runtime=auto|sklearn,KEY=V], mlserver[:parallel_workers=N], "
        "kserve[:enable_latency_logging=false], bare[:cache=true] (raw ASGI and grpc.aio: "
        "decode, predict, encode; with cache=true answers memoised, the transport alone; for "
        "reference); "
        "a variant may have several keys (ours:source=DIR,runtime=auto,mlserver is two servers)",
    )
    parser.add_argument(
        "--models",
        default="logreg,rf100,pipeline",
        help=f"comma-separated from {sorted(MODEL_TRAINERS)}",
    )
    parser.add_argument(
        "--scenarios",
        default="1x8,1x64,64x8",
        help="comma-separated ROWSxCLIENTS (rows per request x concurrent connections)",
    )
    parser.add_argument(
        "--protocols",
        default="rest,grpc",
        help="comma-separated: rest (wrk, JSON) and grpc (ghz, raw tensor contents); every "
        "scenario runs over each",
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds measured per scenario"
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of unmeasured load first"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; medians reported"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 round of 2 s, 1 s warm-up"
    )
    parser.add_argument(
        "--server-cpu", default="0", help="CPU list for servers ('none' disables pinning)"
    )
    parser.add_argument("--loader-cpu", default="1", help="CPU list for wrk")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="nice value for servers and wrk alike (e.g. -10 on a shared machine; needs root)",
    )
    parser.add_argument("--ready-timeout", type=float, default=120.0)
    parser.add_argument(
        "--skip-unavailable",
        action="store_true",
        help="drop a server whose prerequisites are missing instead of failing (and list it)",
    )
    parser.add_argument(
        "--workdir", type=Path, help="models, bodies and server logs (default: a temp dir)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the markdown report here")
    parser.add_argument("--json", type=Path, help="also write every round's raw figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds = 2.0, 1.0, 1
    if args.server_cpu == "none":
        args.server_cpu = args.loader_cpu = None
    args.servers = split_server_list(args.servers)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    if not set(protocols) <= {"rest", "grpc"}:
        parser.error(f"--protocols {args.protocols!r}: choose from rest, grpc")
    parsed = [Scenario.parse(s) for s in args.scenarios.split(",") if s.strip()]
    args.scenarios = [
        Scenario(s.rows, s.clients, protocol) for protocol in protocols for s in parsed
    ]
    return args


def select_servers(args: argparse.Namespace, failures: list[str]) -> list[str]:
    chosen = []
    for spec in args.servers:
        missing = missing_prerequisites([spec])
        if not missing and server_kind(spec) == "ours":
            reason = ours_is_runnable()
            missing = [f"`modelserve-scoring serve` ({reason})"] if reason else []
        if missing:
            message = f"{spec}: missing {', '.join(missing)} (run bench/setup_peers.sh for peers)"
            if not args.skip_unavailable:
                raise SystemExit(f"cannot run the benchmark: {message}")
            failures.append(f"skipped {message}")
            continue
        chosen.append(spec)
    return chosen


def run_grpc_load(
    launch: ServerLaunch, body: Path, clients: int, seconds: float, args: argparse.Namespace
) -> LoadResult:
    """run_wrk's gRPC counterpart: ghz, pinned and niced as wrk is."""
    assert launch.grpc_port is not None
    prefix = pinned([], args.loader_cpu, args.nice)
    figures = run_ghz(args.ghz, launch.grpc_port, body, clients, seconds, prefix)
    return LoadResult(
        requests=figures["requests"],
        seconds=figures["seconds"],
        p50_ms=figures["p50_ms"],
        p99_ms=figures["p99_ms"],
        non200=figures["non_ok"],
        socket_errors=0,  # ghz counts a broken connection as a status (Unavailable)
        first_bad_status=0,
    )


def run_load(
    launch: ServerLaunch,
    url: str,
    scenario: Scenario,
    body: Path,
    seconds: float,
    args: argparse.Namespace,
) -> LoadResult:
    """One closed-loop run of the scenario's loader: wrk over REST, ghz over gRPC."""
    if scenario.protocol == "grpc":
        return run_grpc_load(launch, body, scenario.clients, seconds, args)
    return run_wrk(url, body, scenario.clients, seconds, args.loader_cpu, args.nice)


def measure_server(
    spec: str,
    model: BenchModel,
    rundir: Path,
    bodies: dict[str, dict[int, Path]],
    args: argparse.Namespace,
    failures: list[str],
) -> list[tuple[str, LoadResult]]:
    """Start one server, check its answers, warm it up and time every scenario, then stop it.
    A server that fails over gRPC keeps its REST rows (the failure is listed)."""
    launch = build_launch(spec, model)
    server = RunningServer(launch, rundir, args.server_cpu, args.nice)
    results = []
    grpc_usable: bool | None = None if launch.grpc_port is not None else False
    try:
        server.wait_ready(model.name, args.ready_timeout)
        check_answers(launch, model, bodies["rest"])
        url = f"{launch.base_url}/v2/models/{model.name}/infer"
        for scenario in args.scenarios:
            body = bodies[scenario.protocol][scenario.rows]
            if scenario.protocol == "grpc":
                if grpc_usable is None:
                    try:
                        wait_grpc_ready(launch.grpc_port, model.name, args.ready_timeout)
                        check_grpc_answers(launch, model, bodies["grpc"])
                        grpc_usable = True
                    except (GrpcLoadError, BenchError) as error:
                        failures.append(f"{model.kind} on {spec} over gRPC: {error}")
                        grpc_usable = False
                if not grpc_usable:
                    continue
            run_load(launch, url, scenario, body, args.warmup, args)
            cpu_before = server.cpu_seconds()
            result = run_load(launch, url, scenario, body, args.duration, args)
            if result.requests:
                cpu = server.cpu_seconds() - cpu_before
                result.cpu_us_per_request = cpu * 1e6 / result.requests
            results.append((scenario.label, result))
            print(
                f"    {scenario.label}: {result.rps:.0f} req/s p50 {result.p50_ms:.1f} ms "
                f"p99 {result.p99_ms:.1f} ms CPU {result.cpu_us_per_request:.0f} us/req "
                f"non-200 {result.non200} "
                f"socket errors {result.socket_errors}",
                file=sys.stderr,
            )
    except (BenchError, GrpcLoadError) as error:
        raise BenchError(f"{error} (log: {server.log_path})") from error
    finally:
        server.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    failures: list[str] = []
    specs = select_servers(args, failures)
    if not specs:
        raise SystemExit("no server left to benchmark")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="modelserve-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    args.ghz = None
    if any(s.protocol == "grpc" for s in args.scenarios):
        try:
            args.ghz = ghz_binary()
        except GrpcLoadError as error:
            if not args.skip_unavailable:
                raise SystemExit(f"cannot run the gRPC rows: {error}") from None
            failures.append(f"skipped the gRPC rows: {error}")
            args.scenarios = [s for s in args.scenarios if s.protocol == "rest"]
    env = describe_environment(specs, args.server_cpu, args.loader_cpu)
    env["nice"] = args.nice
    env["ghz"] = args.ghz
    models = [build_model(kind, workdir / "models") for kind in args.models]
    # Request bodies per protocol and input width (the boosted models take 30 features, the
    # others 20), the same bytes for every server.
    bodies_by_width: dict[tuple[str, int], dict[str, dict[int, Path]]] = {}
    for model in models:
        width = model.n_features
        bodies = bodies_by_width.setdefault((model.name, width), {"rest": {}, "grpc": {}})
        for rows in sorted({s.rows for s in args.scenarios}):
            features = request_rows(rows, width)
            rest = workdir / f"infer-{rows}-rows-{width}-features.json"
            rest.write_bytes(v2_infer_body(features))
            grpc = workdir / f"infer-{model.name}-{rows}-rows-{width}-features.bin"
            grpc.write_bytes(infer_message(model.name, features))
            bodies["rest"][rows], bodies["grpc"][rows] = rest, grpc

    raw: dict[tuple[str, str, str], list[LoadResult]] = {}
    broken: set[tuple[str, str]] = set()
    for round_index in range(args.rounds):
        # Rotate the order each round so no server always runs first on a cold machine.
        shift = round_index % len(specs)
        for model in models:
            for spec in specs[shift:] + specs[:shift]:
                if (model.kind, spec) in broken:
                    continue
                print(
                    f"[round {round_index + 1}/{args.rounds}] {model.kind} on {spec}",
                    file=sys.stderr,
                )
                slug = re.sub(r"\W+", "_", spec)
                rundir = workdir / "runs" / f"r{round_index}-{model.kind}-{slug}"
                try:
                    bodies = bodies_by_width[model.name, model.n_features]
                    measured = measure_server(spec, model, rundir, bodies, args, failures)
                    for label, result in measured:
                        raw.setdefault((model.kind, label, spec), []).append(result)
                except BenchError as error:
                    failures.append(f"{model.kind} on {spec}: {error}")
                    print(f"    FAILED: {error}", file=sys.stderr)
                    broken.add((model.kind, spec))

    # Table order: model, scenario, then servers in the order given.
    table = {}
    for model in models:
        for scenario in args.scenarios:
            for spec in specs:
                key = (model.kind, scenario.label, spec)
                if key in raw:
                    table[key] = median_row(raw[key])
    env["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    settings = {"rounds": args.rounds, "duration": args.duration, "warmup": args.warmup}
    report = render_markdown(env, settings, table, failures)
    print(report)
    if args.markdown:
        args.markdown.write_text(report)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "environment": env,
                    "settings": settings,
                    "rounds": {" | ".join(k): [asdict(r) for r in v] for k, v in raw.items()},
                    "failures": failures,
                },
                indent=2,
            )
        )
    bad_answers = any(row["non200"] or row["socket_errors"] for row in table.values())
    return 1 if failures or bad_answers else 0


if __name__ == "__main__":
    sys.exit(main())
