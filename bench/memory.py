"""Memory benchmark: resident memory per server for the same model, ours against the peers.

Run with the project's venv:  .venv/bin/python bench/memory.py [--models logreg] [--servers ...]
Each server starts on the same artifact, answers a 1-row and a 64-row request (checked against
the model's own predictions), is measured, then gets a few large requests and is measured
again. RSS and PSS are summed over the server's whole process tree (MLServer answers from a
worker process). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import psutil
from models import MODEL_TRAINERS, BenchModel, build_model, request_rows, v2_infer_body
from scoring import BenchError, RunningServer, check_answers, http_post_json
from servers import build_launch, server_kind

MB = 1024 * 1024


def tree_memory(pid: int) -> dict[str, float]:
    """RSS and PSS in MB summed over `pid` and all its descendants, and how many there are.

    RSS counts pages shared between a forked parent and its workers once per process, so it
    overstates a tree; PSS splits shared pages between their users and sums to what the tree
    costs the node.
    """
    root = psutil.Process(pid)
    rss = pss = 0
    processes = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            info = process.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # gone meanwhile
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
        processes += 1
    return {"rss_mb": rss / MB, "pss_mb": pss / MB, "processes": processes}


def measure(
    spec: str, model: BenchModel, rundir: Path, bodies: dict[int, Path], args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """Start one server, check its answers, measure after load and after large requests."""
    launch = build_launch(spec, model)
    server = RunningServer(launch, rundir, None, args.nice)
    try:
        server.wait_ready(model.name, args.ready_timeout)
        check_answers(launch, model, {rows: bodies[rows] for rows in (1, 64)})
        loaded = tree_memory(server.process.pid)
        url = f"{launch.base_url}/v2/models/{model.name}/infer"
        large = bodies[args.large_rows].read_bytes()
        for _ in range(args.large_requests):
            status, raw = http_post_json(url, large, timeout=300)
            if status != 200:
                raise BenchError(f"{spec}: large infer answered {status}: {raw[:300]!r}")
        after_large = tree_memory(server.process.pid)
    except BenchError as error:
        raise BenchError(f"{error} (log: {server.log_path})") from error
    finally:
        server.stop()
    return {"after_load": loaded, "after_large": after_large}


def ratio_lines(table: dict[tuple[str, str], dict], specs: list[str], metric: str) -> list[str]:
    """ours / each peer and ours / the better (smaller) peer, per model and our variant."""
    lines = []
    for kind in sorted({kind for kind, _ in table}):
        peers = {
            s: table[kind, s] for s in specs if server_kind(s) != "ours" and (kind, s) in table
        }
        if not peers:
            continue
        for spec in specs:
            if server_kind(spec) != "ours" or (kind, spec) not in table:
                continue
            ours = table[kind, spec]
            parts = []
            for stage in ("after_load", "after_large"):
                each = [
                    f"/ {p} {ours[stage][metric] / row[stage][metric]:.2f}x"
                    for p, row in peers.items()
                ]
                best = min(row[stage][metric] for row in peers.values())
                each.append(f"/ better peer {ours[stage][metric] / best:.2f}x")
                parts.append(f"{stage}: {' '.join(each)}")
            lines.append(f"- {metric[:3].upper()} {kind}, {spec}: {'; '.join(parts)}")
    return lines


def render(table: dict[tuple[str, str], dict], specs: list[str], args: argparse.Namespace) -> str:
    lines = [
        f"Memory per server (MB, summed over the process tree; large = {args.large_requests} x "
        f"{args.large_rows} rows)",
        "",
        "| model | server | processes (load / large) | RSS after load | RSS after large "
        "| PSS after load | PSS after large |",
        "|---|---|---|---|---|---|---|",
    ]
    for (kind, spec), row in table.items():
        load, large = row["after_load"], row["after_large"]
        lines.append(
            f"| {kind} | {spec} | {load['processes']} / {large['processes']} "
            f"| {load['rss_mb']:.0f} | {large['rss_mb']:.0f} "
            f"| {load['pss_mb']:.0f} | {large['pss_mb']:.0f} |"
        )
    lines.append("")
    lines += ratio_lines(table, specs, "rss_mb")
    lines += ratio_lines(table, specs, "pss_mb")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="ours,mlserver,kserve")
    parser.add_argument(
        "--models",
        default="logreg,rf100,pipeline",
        help=f"comma-separated from {sorted(MODEL_TRAINERS)}",
    )
    parser.add_argument("--large-rows", type=int, default=10_000)
    parser.add_argument("--large-requests", type=int, default=5)
    parser.add_argument("--nice", type=int, default=0)
    parser.add_argument("--ready-timeout", type=float, default=300)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    specs = [s for s in args.servers.split(";" if ";" in args.servers else ",") if s]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="modelserve-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    models = [build_model(kind, workdir / "models") for kind in args.models.split(",")]
    bodies_by_width: dict[int, dict[int, Path]] = {}
    for width in sorted({model.n_features for model in models}):
        bodies = bodies_by_width.setdefault(width, {})
        for rows in (1, 64, args.large_rows):
            bodies[rows] = workdir / f"infer-{rows}-rows-{width}-features.json"
            bodies[rows].write_bytes(v2_infer_body(request_rows(rows, width)))
    table: dict[tuple[str, str], dict] = {}
    failures = []
    for model in models:
        for spec in specs:
            print(f"{model.kind} on {spec}", file=sys.stderr)
            slug = re.sub(r"\W+", "_", spec)
            rundir = workdir / "runs" / f"{model.kind}-{slug}"
            try:
                bodies = bodies_by_width[model.n_features]
                table[model.kind, spec] = measure(spec, model, rundir, bodies, args)
            except BenchError as error:
                failures.append(f"{model.kind} on {spec}: {error}")
                print(f"    FAILED: {error}", file=sys.stderr)
                continue
            row = table[model.kind, spec]
            print(
                f"    RSS {row['after_load']['rss_mb']:.0f} MB after load, "
                f"{row['after_large']['rss_mb']:.0f} MB after large requests",
                file=sys.stderr,
            )
    report = render(table, specs, args)
    if failures:
        report += "\nFailures:\n" + "\n".join(f"- {f}" for f in failures) + "\n"
    print(report)
    if args.markdown:
        args.markdown.write_text(report)
    if args.json:
        rows = {f"{kind} | {spec}": row for (kind, spec), row in table.items()}
        args.json.write_text(json.dumps({"results": rows, "failures": failures}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
