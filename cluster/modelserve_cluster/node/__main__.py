"""`python -m modelserve_cluster.node up|down|status`: the real node from the shell."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from modelserve_cluster.app_images import app_images
from modelserve_cluster.node.lifecycle import NodeStatus, down, status, up


def _print(result: NodeStatus) -> None:
    for name, running in result.daemons.items():
        print(f"  {'ok ' if running else '-- '}{name}")
    for label, ok in (
        ("Node Ready", result.node_ready),
        ("CoreDNS available", result.dns_ready),
        ("metrics API available", result.metrics_ready),
    ):
        print(f"  {'ok ' if ok else '-- '}{label}")
    for item in result.leftovers:
        print(f"  left over: {item}")
    print("node is healthy" if result.healthy else "node is NOT healthy")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one lifecycle command."""
    parser = argparse.ArgumentParser(prog="python -m modelserve_cluster.node")
    parser.add_argument("--node-dir", type=Path, default=None, help="default ~/.modelserve/node")
    parser.add_argument(
        "--cluster-dir",
        type=Path,
        default=None,
        help="the control plane's state, default ~/.modelserve/cluster",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="join a real node to the running control plane")
    up_parser.add_argument(
        "--image",
        action="append",
        dest="images",
        help=f"Docker image to load into the node (default: images/images.txt, {app_images()})",
    )
    down_parser = commands.add_parser("down", help="stop the node and undo its host changes")
    down_parser.add_argument("--purge", action="store_true", help="also delete its state dir")
    status_parser = commands.add_parser("status", help="what runs and what answers")
    status_parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "up":
        started = time.monotonic()
        images = tuple(args.images) if args.images else None
        result = up(args.node_dir, args.cluster_dir, images)
        _print(result)
        print(f"node up in {time.monotonic() - started:.1f} s")
        return 0 if result.healthy else 1
    if args.command == "down":
        left = down(args.node_dir, args.cluster_dir, args.purge)
        for item in left:
            print(f"left over: {item}", file=sys.stderr)
        print("node stopped" + ("" if not left else f", {len(left)} things left over"))
        return 0 if not left else 1
    result = status(args.node_dir, args.cluster_dir)
    if args.json:
        print(json.dumps({**asdict(result), "healthy": result.healthy}, default=str, indent=2))
    else:
        _print(result)
    return 0 if result.healthy else 1


if __name__ == "__main__":
    sys.exit(main())
