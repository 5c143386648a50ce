"""`modelserve-cluster up|down|status|kubeconfig|env`: the local control plane from the shell."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from modelserve_cluster.app_images import app_images
from modelserve_cluster.binaries import ensure_binaries
from modelserve_cluster.cluster import ClusterStatus, LocalCluster


def _print_status(status: ClusterStatus) -> None:
    print(f"state:      {status.state_dir}")
    print(f"kubeconfig: {status.kubeconfig}")
    print(f"server:     {status.server}")
    for c in status.components:
        mark = "ok " if c.running and c.healthy else "-- "
        pid = c.pid if c.pid is not None else "-"
        print(
            f"  {mark}{c.name:<24} pid {pid!s:<8} {c.detail.splitlines()[-1] if c.detail else ''}"
        )
    print("cluster is healthy" if status.healthy else "cluster is NOT healthy")


def _cluster(args: argparse.Namespace) -> LocalCluster:
    return LocalCluster(args.state_dir, args.port_offset)


def cmd_up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    bin_dir = ensure_binaries()
    binaries_ready = time.monotonic()
    status = _cluster(args).up(bin_dir)
    done = time.monotonic()
    _print_status(status)
    if status.healthy and args.with_node:
        from modelserve_cluster import node

        images = tuple(args.image) if args.image else None
        node_status = node.up(cluster_dir=args.state_dir, app_images=images)
        print(f"real node: {'healthy' if node_status.healthy else 'NOT healthy'}")
        print(f"node {time.monotonic() - done:.1f} s")
        if not node_status.healthy:
            for problem in node_status.problems():
                print(f"  {problem}", file=sys.stderr)
            return 1
    print(
        f"binaries {binaries_ready - started:.1f} s, control plane {done - binaries_ready:.1f} s, "
        f"total {done - started:.1f} s"
    )
    print(f"export KUBECONFIG={status.kubeconfig}")
    return 0 if status.healthy else 1


def cmd_down(args: argparse.Namespace) -> int:
    from modelserve_cluster import node

    # The node first: its kubelet and add-ons talk to the control plane.
    leftovers = node.down(cluster_dir=args.state_dir, purge=args.purge)
    if leftovers:
        print("the real node left behind:\n  " + "\n  ".join(leftovers), file=sys.stderr)
    _cluster(args).down(purge=args.purge)
    print("stopped" + (" and state deleted" if args.purge else ""))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = _cluster(args).status()
    if args.json:
        data = asdict(status)
        data["healthy"] = status.healthy
        print(json.dumps(data, default=str, indent=2))
    else:
        _print_status(status)
    return 0 if status.healthy else 1


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    print(_cluster(args).kubeconfig)
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    # kubectl and helm, then the venv this command runs from: `modelserve`, and a
    # python3 with scikit-learn to train the examples' models.
    tools = [str(ensure_binaries()), str(Path(sys.executable).parent)]
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    print(f"export PATH={':'.join(tools)}:$PATH")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelserve-cluster",
        description="A local Kubernetes control plane (etcd, kube-apiserver, "
        "kube-controller-manager, kube-scheduler) with KWOK-simulated nodes, on loopback.",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="state directory (default $MODELSERVE_CLUSTER_DIR or ~/.modelserve/cluster)",
    )
    parser.add_argument(
        "--port-offset",
        type=int,
        default=None,
        help="shift every port by this much, to run a second cluster beside the first",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the cluster (reuses a healthy one)")
    up.add_argument(
        "--with-node",
        action="store_true",
        help="also join a real node (kubelet + containerd) that runs real pods",
    )
    up.add_argument(
        "--image",
        action="append",
        default=None,
        help="a local Docker image to import into the node (repeatable; default: every "
        f"image in images/images.txt: {', '.join(app_images())})",
    )
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop every process the cluster started")
    down.add_argument("--purge", action="store_true", help="also delete the state directory")
    down.set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="each component and the API server's /readyz")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)
    sub.add_parser("kubeconfig", help="print the admin kubeconfig path").set_defaults(
        func=cmd_kubeconfig
    )
    sub.add_parser(
        "env", help="print shell exports: KUBECONFIG, and PATH with kubectl, helm and modelserve"
    ).set_defaults(func=cmd_env)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (RuntimeError, TimeoutError, FileNotFoundError) as error:
        print(f"modelserve-cluster {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
