"""A kind cluster for the e2e tier: kind-config.yaml plus a shared host directory, routes, images.

The cluster is made by kind itself from the repository's kind-config.yaml and the node
image hack/kind/build.sh makes here; the tier adds only what a developer running these
tests on kind would add by hand:

- its own pod and Service ranges, apart from the simulated ones of kwokctl clusters (whose
  addresses the host holds unreachable routes for) and from kind's defaults;
- one host directory mounted at the same path in every node (`extraMounts`), for the
  tier's hostPath and `local` volumes that the test reads and writes from the host;
- host routes to each node's podCIDR and to the Service range via the node's address on
  kind's Docker network, so the host reaches pod IPs and ClusterIPs as on a real node;
- `kind load docker-image` of this tree's images.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
KIND_CONFIG = REPO_ROOT / "kind-config.yaml"
DEFAULT_NAME = "modelserve-e2e"
# Apart from kwokctl clusters' (Services 10.0.0.0/16, KWOK pods 10.244.0.0/16, KWOK nodes
# 10.245.0.0/16) and from kind's defaults, which the quickstart's cluster uses.
POD_SUBNET = "10.250.0.0/16"
SERVICE_SUBNET = "10.251.0.0/16"
# Routes this harness adds carry this protocol number, so removing them touches no other.
ROUTE_PROTO = "94"
# Set, the nodes' CPU weight (Docker's --cpu-shares, default 1024): a low one keeps a
# cluster run beside a benchmark from disturbing it. CI leaves it: the tier comes first.
NODE_CPU_SHARES = os.environ.get("MODELSERVE_KIND_CPU_SHARES")


def cluster_name() -> str:
    """$KIND_CLUSTER_NAME, else modelserve-e2e."""
    return os.environ.get("KIND_CLUSTER_NAME", DEFAULT_NAME)


def _run(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


def kind_binary() -> str:
    """kind as hack/kind/build.sh caches it (built from its Go module)."""
    script = f"source {REPO_ROOT}/hack/kind/lib.sh && echo $KIND_BIN"
    return _run("bash", "-c", script).stdout.strip()


@dataclass(frozen=True)
class KindCluster:
    """One kind cluster of the e2e tier and the host directory its nodes share."""

    name: str
    kubeconfig: Path
    shared_dir: Path
    kubectl: Path

    @property
    def worker(self) -> str:
        """The node the tier pins its pods to (the control plane keeps its taint)."""
        return f"{self.name}-worker"

    def config(self) -> dict:
        """kind-config.yaml with the tier's name, ranges and shared directory."""
        config = yaml.safe_load(KIND_CONFIG.read_text())
        config["name"] = self.name
        config["networking"] = {"podSubnet": POD_SUBNET, "serviceSubnet": SERVICE_SUBNET}
        mount = {"hostPath": str(self.shared_dir), "containerPath": str(self.shared_dir)}
        for node in config["nodes"]:
            node["extraMounts"] = [*node.get("extraMounts", []), mount]
        return config

    def node_containers(self) -> list[str]:
        out = _run(
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=io.x-k8s.kind.cluster={self.name}",
            "--format",
            "{{.Names}}",
        ).stdout
        return sorted(out.split())

    def exists(self) -> bool:
        return self.name in _run(kind_binary(), "get", "clusters").stdout.split()

    def create(self, node_image: str, timeout: float = 300.0) -> float:
        """`kind create cluster` until every node is Ready; returns the seconds it took.

        The node containers get the smallest CPU weight as soon as they exist.
        """
        self.shared_dir.mkdir(parents=True, exist_ok=True)
        config_file = self.shared_dir.parent / f"{self.name}.kind-config.yaml"
        config_file.write_text(yaml.safe_dump(self.config()))
        started = time.monotonic()
        create = subprocess.Popen(
            [
                kind_binary(),
                "create",
                "cluster",
                "--name",
                self.name,
                "--config",
                str(config_file),
                "--image",
                node_image,
                "--kubeconfig",
                str(self.kubeconfig),
                "--wait",
                f"{int(timeout)}s",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lowered: set[str] = set()
        while create.poll() is None:
            for container in set(self.node_containers()) - lowered if NODE_CPU_SHARES else ():
                # Refused while Docker is still creating the container: tried again.
                update = ("docker", "update", "--cpu-shares", NODE_CPU_SHARES, container)
                if _run(*update, check=False).returncode == 0:
                    lowered.add(container)
            time.sleep(0.2)
        output = create.stdout.read() if create.stdout else ""
        if create.returncode != 0:
            raise RuntimeError(f"kind create cluster {self.name} failed:\n{output}")
        for container in set(self.node_containers()) - lowered if NODE_CPU_SHARES else ():
            _run("docker", "update", "--cpu-shares", NODE_CPU_SHARES, container)
        return time.monotonic() - started

    def write_kubeconfig(self) -> None:
        self.kubeconfig.write_text(
            _run(kind_binary(), "get", "kubeconfig", "--name", self.name).stdout
        )

    def load_images(self, images: list[str]) -> None:
        """Load Docker images into the worker (the only node the tier's pods run on)."""
        if images:
            _run(
                kind_binary(),
                "load",
                "docker-image",
                "--name",
                self.name,
                "--nodes",
                self.worker,
                *images,
            )

    def install_metrics_server(self) -> None:
        """metrics-server (kind_metrics.py) loaded onto every node, applied, and Available."""
        import kind_metrics

        with tempfile.TemporaryDirectory() as scratch:  # one per session: runs may overlap
            _, archive = kind_metrics.image_archive(
                self.kubectl.parent, Path(scratch) / "metrics-server.tar"
            )
            _run(kind_binary(), "load", "image-archive", "--name", self.name, str(archive))
        kubectl = (str(self.kubectl), f"--kubeconfig={self.kubeconfig}")
        _run(*kubectl, "apply", "-f", "-", input=yaml.safe_dump_all(kind_metrics.manifests()))
        _run(
            *kubectl,
            "-n",
            "kube-system",
            "rollout",
            "status",
            "deployment/metrics-server",
            "--timeout=180s",
        )

    def install_netpol_agent(self) -> None:
        """The NetworkPolicy agent (kind_netpol.py) on every node, and its queue rules there."""
        import kind_netpol

        with tempfile.TemporaryDirectory() as scratch:  # one per session: runs may overlap
            archive = kind_netpol.image_archive(
                self.kubectl.parent, Path(scratch) / "netpol-agent.tar"
            )
            _run(kind_binary(), "load", "image-archive", "--name", self.name, str(archive))
        kubectl = (str(self.kubectl), f"--kubeconfig={self.kubeconfig}")
        service = json.loads(
            _run(*kubectl, "get", "service", "kubernetes", "-n", "default", "-o", "json").stdout
        )
        apiserver = f"https://{service['spec']['clusterIP']}:443"
        objects = yaml.safe_dump_all(kind_netpol.manifests(apiserver))
        _run(*kubectl, "apply", "-f", "-", input=objects)
        _run(
            *kubectl,
            "-n",
            kind_netpol.NAMESPACE,
            "rollout",
            "status",
            f"daemonset/{kind_netpol.NAME}",
            "--timeout=180s",
        )
        for node in self.node_containers():
            for rule in kind_netpol.queue_rules(POD_SUBNET, self.host_address()):
                iptables = ("docker", "exec", node, "iptables", "-t", "mangle")
                if _run(*iptables, "-C", *rule, check=False).returncode != 0:
                    _run(*iptables, "-A", *rule)

    def apiserver_cidrs(self) -> str:
        """Where the API server's connections to pods come from: the control-plane node."""
        return f"{self.node_address(f'{self.name}-control-plane')}/32"

    def node_address(self, node: str) -> str:
        """The node's address on kind's Docker network."""
        out = _run(
            "docker",
            "inspect",
            node,
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        ).stdout
        return out.split()[0]

    def host_address(self) -> str:
        """The host's address on kind's Docker network: where pods reach a server on the host."""
        info = json.loads(_run("docker", "network", "inspect", "kind").stdout)[0]
        (gateway,) = [c["Gateway"] for c in info["IPAM"]["Config"] if "." in c.get("Gateway", "")]
        return gateway

    def routes(self) -> dict[str, str]:
        """Destination → via: each node's podCIDR via that node, Service range via the worker."""
        nodes = json.loads(
            _run(
                str(self.kubectl), f"--kubeconfig={self.kubeconfig}", "get", "nodes", "-o", "json"
            ).stdout
        )["items"]
        routes = {n["spec"]["podCIDR"]: self.node_address(n["metadata"]["name"]) for n in nodes}
        routes[SERVICE_SUBNET] = self.node_address(self.worker)
        return routes

    def add_routes(self) -> None:
        """Routes to pod IPs and ClusterIPs through the nodes; other pod addresses unreachable.

        Nothing addressed to the two ranges follows the host's default route: an address no
        node holds is refused by the host (pod range) or by the node's own reject rule for
        untranslated Service traffic (podnet).
        """
        _run("ip", "route", "replace", "unreachable", POD_SUBNET, "proto", ROUTE_PROTO)
        for destination, via in self.routes().items():
            _run("ip", "route", "replace", destination, "via", via, "proto", ROUTE_PROTO)

    def delete_routes(self) -> None:
        """Remove the routes add_routes made (and only those: they carry ROUTE_PROTO)."""
        for line in _run("ip", "-o", "route", "show", "proto", ROUTE_PROTO).stdout.splitlines():
            words = line.split()
            route = words[:2] if words[0] == "unreachable" else words[:1]
            _run("ip", "route", "del", *route, "proto", ROUTE_PROTO, check=False)

    def delete(self) -> None:
        """Delete the cluster and the routes to it."""
        self.delete_routes()
        _run(kind_binary(), "delete", "cluster", "--name", self.name, check=False)


if __name__ == "__main__":
    # `python tests/e2e/kind_cluster.py delete [NAME]`: what hack/test.sh runs after the
    # sessions that kept the cluster (MODELSERVE_KEEP_CLUSTER=1); delete() only needs the name.
    import sys

    if sys.argv[1:2] != ["delete"]:
        sys.exit("usage: kind_cluster.py delete [NAME]")
    name = sys.argv[2] if len(sys.argv) > 2 else cluster_name()
    KindCluster(name, Path(), Path(), Path()).delete()
