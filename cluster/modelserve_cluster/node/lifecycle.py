"""`up`, `down` and `status` of the node: the order things start and the exact undo of each."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from modelserve_cluster.app_images import app_images as listed_app_images
from modelserve_cluster.cluster import LocalCluster
from modelserve_cluster.layout import KUBERNETES_SERVICE_IP, SERVICE_CIDR
from modelserve_cluster.node import addons, configs, images, netfilter, processes
from modelserve_cluster.node import layout as L
from modelserve_cluster.node.binaries import (
    MissingPrerequisite,
    NodeBinaries,
    ensure_all,
    find_existing,
)
from modelserve_cluster.node.certs import issue_certificate, write_kubeconfig
from modelserve_cluster.node.kube import Kubectl, condition_true, server_of
from modelserve_cluster.node.layout import NodeLayout, default_node_dir, dns_service_ip

DAEMONS = ("containerd", "kubelet", "kube-proxy", "netpol-agent")
START_TIMEOUT_S = 180.0


@dataclass
class NodeStatus:
    """What `status` sees: each daemon, the Node object, the add-ons."""

    node_dir: Path
    daemons: dict[str, bool] = field(default_factory=dict)
    node_ready: bool = False
    dns_ready: bool = False
    metrics_ready: bool = False
    leftovers: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return (
            bool(self.daemons)
            and all(self.daemons.values())
            and self.node_ready
            and self.dns_ready
            and self.metrics_ready
        )

    @property
    def any_running(self) -> bool:
        return any(self.daemons.values())

    def problems(self) -> list[str]:
        """What is wrong, one sentence each, naming the log to read."""
        logs = NodeLayout(self.node_dir)
        found = [
            f"{name} is not running: read {logs.log_file(name)}"
            for name, running in self.daemons.items()
            if not running
        ]
        if not self.daemons:
            found.append(f"no node daemon was started: read the logs under {logs.log_dir}")
        if not self.node_ready:
            found.append(f"Node is not Ready: read {logs.log_file('kubelet')}")
        if not self.dns_ready:
            found.append("CoreDNS is not available: kubectl -n kube-system describe pods")
        if not self.metrics_ready:
            found.append("the metrics API is not available: kubectl -n kube-system describe pods")
        return found + [f"left over from an earlier node: {item}" for item in self.leftovers]


class _State:
    """The record of what `up` created, written as it goes so a failed `up` can be undone."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            self.data = {"pids": {}, "argv0": {}}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")

    def record_pid(self, name: str, pid: int, argv0: str) -> None:
        self.data["pids"][name] = pid
        self.data["argv0"][name] = argv0
        self.save()

    def alive(self, name: str) -> bool:
        pid = self.data["pids"].get(name)
        return bool(pid) and processes.is_ours(pid, self.data["argv0"][name])


class Node:
    """One real node joined to the local control plane."""

    def __init__(self, node_dir: Path | None = None, cluster_dir: Path | None = None) -> None:
        self.layout = NodeLayout(node_dir or default_node_dir())
        self.cluster = LocalCluster(cluster_dir)
        self.state = _State(self.layout.state_file)
        self._kubectl_binary: Path | None = None

    # ---- helpers -----------------------------------------------------------

    def kubectl(self, bins: NodeBinaries | None = None) -> Kubectl:
        if bins:
            self._kubectl_binary = bins.path("kubectl")
        elif self._kubectl_binary is None:
            self._kubectl_binary = _find_kubectl()
        return Kubectl(self._kubectl_binary, self.cluster.kubeconfig)

    def crictl(
        self, bins: NodeBinaries, *args: str, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        endpoint = f"unix://{self.layout.containerd_socket}"
        return subprocess.run(
            [
                str(bins.path("crictl")),
                "--runtime-endpoint",
                endpoint,
                "--image-endpoint",
                endpoint,
                "--timeout",
                "30s",
                *args,
            ],
            capture_output=True,
            text=True,
            check=check,
        )

    def _start(self, name: str, argv: list[str], ready: Callable[[], bool]) -> None:
        pid = processes.start_daemon(argv, self.layout.log_file(name))
        self.state.record_pid(name, pid, argv[0])
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            if not self.state.alive(name):
                raise RuntimeError(
                    f"{name} exited during start-up; last lines of {self.layout.log_file(name)}:\n"
                    + processes.tail(self.layout.log_file(name))
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{name} not ready after {START_TIMEOUT_S:.0f}s; "
                    f"see {self.layout.log_file(name)}"
                )
            time.sleep(0.5)

    # ---- up ----------------------------------------------------------------

    def up(self, app_images: tuple[str, ...] | None = None) -> NodeStatus:
        """Start the node and load the images (idempotent: a healthy node is kept).

        `app_images` defaults to every image of images/images.txt, and each must be in
        Docker: a node without the operator's image leaves the chart's pod in
        ErrImageNeverPull, which is what a newcomer met when only one image was loaded.
        """
        app_images = listed_app_images() if app_images is None else app_images
        current = self.status()
        if current.healthy:
            self.import_images(app_images)
            return current
        if not self.cluster.status().healthy:
            raise MissingPrerequisite(
                f"the control plane in {self.cluster.layout.root} is not running: "
                "run `modelserve-cluster up` first"
            )
        if current.any_running or self.layout.state_file.exists():
            self.down()
        bins = ensure_all()
        try:
            self._up(bins)
        except BaseException:
            self.down()
            raise
        # Outside the undo: a missing image is fixed by building it, not by a new node.
        self.import_images(app_images)
        return self.status()

    def _up(self, bins: NodeBinaries) -> None:
        node = self.layout
        node.create()
        self.state = _State(node.state_file)
        self._write_files()
        # The kubelet rewrites some kernel tunables at start; down puts them back.
        self.state.data["sysctls_before"] = _read_sysctls()
        self.state.data["portmap_chains_before"] = netfilter.existing_portmap_chains()
        self.state.data["container_log_links_dir_existed"] = CONTAINER_LOG_LINKS.is_dir()
        self.state.data["bridge_created"] = not netfilter.bridge_exists()
        self.state.save()
        netfilter.enable_bridge_netfilter()
        netfilter.ensure_bridge()
        self.state.data["forward_rules"] = netfilter.ensure_forward_rules(
            L.NODE_POD_CIDR, SERVICE_CIDR
        )
        self.state.save()
        _, apiserver_port = self._apiserver_host_port()
        api_rules = netfilter.api_access_rules(KUBERNETES_SERVICE_IP, apiserver_port)
        self.state.data["nat_rules"] = netfilter.ensure_nat_rules(api_rules)
        self.state.save()
        netfilter.allow_loopback_destination()

        self._start(
            "containerd",
            [shutil.which("containerd") or "containerd", "--config", str(node.containerd_config)],
            lambda: _containerd_answers(node.containerd_socket),
        )
        self._import_addon_images(bins)

        kubectl = self.kubectl(bins)
        kubectl.apply(addons.node_rbac())
        _create_pod_cgroups()
        self._start("kubelet", self._kubelet_argv(bins), self._node_ready)
        self._start(
            "kube-proxy",
            [str(bins.path("kube-proxy")), f"--config={node.kube_proxy_config}"],
            lambda: _http_ok(f"http://127.0.0.1:{L.KUBE_PROXY_HEALTHZ_PORT}/healthz"),
        )
        kubectl.apply(addons.netpol_agent_rbac())
        self._start(
            "netpol-agent",
            self._netpol_agent_argv(bins),
            lambda: netfilter.queue_listener_bound(L.NETPOL_QUEUE),
        )
        # Only once the agent listens: the rules send pod connections to its queue.
        self.state.data["mangle_rules"] = netfilter.ensure_mangle_rules(
            netfilter.policy_queue_rules(L.NODE_POD_CIDR)
        )
        self.state.save()
        host, port = self._apiserver_host_port()
        dns_ip = dns_service_ip(SERVICE_CIDR)
        kubectl.apply(addons.coredns(dns_ip, host, port))
        kubectl.apply(addons.metrics_server(host, port))
        _wait(lambda: self._deployment_available("coredns"), "CoreDNS available", node)
        _wait(self._metrics_api_available, "metrics API (v1beta1.metrics.k8s.io) available", node)

    def _apiserver_host_port(self) -> tuple[str, int]:
        url = urlparse(server_of(self.cluster.kubeconfig))
        return url.hostname or "127.0.0.1", url.port or 443

    def _write_files(self) -> None:
        node, pki = self.layout, self.cluster.pki
        ca_cert, ca_key = pki.cert("ca"), pki.key("ca")
        server = server_of(self.cluster.kubeconfig)
        client = issue_certificate(
            ca_cert,
            ca_key,
            node.pki_dir,
            "kubelet-client",
            f"system:node:{L.NODE_NAME}",
            ("system:nodes",),
            client=True,
        )
        serving = issue_certificate(
            ca_cert,
            ca_key,
            node.pki_dir,
            "kubelet-serving",
            f"system:node:{L.NODE_NAME}",
            ("system:nodes",),
            server=True,
            dns_names=(L.NODE_NAME, "localhost"),
            ip_addresses=(L.NODE_IP, "127.0.0.1"),
        )
        proxy = issue_certificate(
            ca_cert, ca_key, node.pki_dir, "kube-proxy", "system:kube-proxy", client=True
        )
        netpol_agent = issue_certificate(
            ca_cert, ca_key, node.pki_dir, "netpol-agent", addons.NETPOL_AGENT_USER, client=True
        )
        shutil.copyfile(ca_cert, node.pki_dir / "ca.crt")
        ca_copy = node.pki_dir / "ca.crt"
        write_kubeconfig(
            node.kubeconfig("kubelet"), server, ca_copy, *client, f"system:node:{L.NODE_NAME}"
        )
        write_kubeconfig(
            node.kubeconfig("kube-proxy"), server, ca_copy, *proxy, "system:kube-proxy"
        )
        write_kubeconfig(
            node.kubeconfig("netpol-agent"),
            server,
            ca_copy,
            *netpol_agent,
            addons.NETPOL_AGENT_USER,
        )
        node.containerd_config.write_text(configs.containerd_config(node))
        (node.cni_conf_dir / "10-modelserve.conflist").write_text(configs.cni_conflist(node))
        node.resolv_conf.write_text(configs.pod_resolv_conf())
        node.kubelet_config.write_text(
            configs.kubelet_config(node, ca_copy, *serving, dns_service_ip(SERVICE_CIDR))
        )
        node.kube_proxy_config.write_text(configs.kube_proxy_config(node, L.NODE_POD_CIDR))

    def _kubelet_argv(self, bins: NodeBinaries) -> list[str]:
        node = self.layout
        return [
            str(bins.path("kubelet")),
            f"--config={node.kubelet_config}",
            f"--kubeconfig={node.kubeconfig('kubelet')}",
            f"--root-dir={node.kubelet_root}",
            f"--cert-dir={node.pki_dir}",
            f"--hostname-override={L.NODE_NAME}",
            f"--node-ip={L.NODE_IP}",
            "--node-labels=modelserve.io/real-node=true",
            "--v=1",
        ]

    def _netpol_agent_argv(self, bins: NodeBinaries) -> list[str]:
        return [
            str(bins.path("netpol-agent")),
            f"--kubeconfig={self.layout.kubeconfig('netpol-agent')}",
            f"--node-name={L.NODE_NAME}",
            f"--nfqueue-id={L.NETPOL_QUEUE}",
            f"--metrics-bind-address=127.0.0.1:{L.NETPOL_AGENT_PORT}",
        ]

    def _import_addon_images(self, bins: NodeBinaries) -> None:
        socket = self.layout.containerd_socket
        have = images.containerd_images(socket)
        for binary, image, entrypoint in (
            ("pause", L.PAUSE_IMAGE, None),
            ("coredns", L.COREDNS_IMAGE, None),
            ("metrics-server", L.METRICS_SERVER_IMAGE, None),
        ):
            # The tag stays the same when the binary changes (a new build of cluster/binaries):
            # the digest it was made from, kept beside the archive, tells a stale image.
            digest = images.file_digest(bins.path(binary))
            stamp = self.layout.images_dir / f"{binary}.sha256"
            if image in have and stamp.exists() and stamp.read_text() == digest:
                continue
            archive = self.layout.images_dir / f"{binary}.tar"
            images.write_single_binary_image(bins.path(binary), image, archive, entrypoint)
            images.import_archive(socket, archive)
            stamp.write_text(digest)

    def import_images(self, names: tuple[str, ...], required: bool = True) -> list[str]:
        """Load Docker images into the node; returns those loaded, raises on a missing one.

        An image whose Docker ID was already imported is skipped: a re-import of the
        scoring image costs tens of seconds.
        """
        loaded = []
        record = self.layout.imported_images_file
        imported = json.loads(record.read_text()) if record.exists() else {}
        have = images.containerd_images(self.layout.containerd_socket)
        for name in names:
            image_id = _docker_image_id(name)
            if image_id is None:
                if required:
                    raise MissingPrerequisite(
                        f"Docker image {name} not found, so the node cannot run it: "
                        "build the images with `images/build.sh all`, then run "
                        "`modelserve-cluster up --with-node` again"
                    )
                continue
            if imported.get(name) == image_id and _qualified(name) in have:
                continue
            images.import_docker_image(self.layout.containerd_socket, name)
            imported[name] = image_id
            record.write_text(json.dumps(imported, indent=2) + "\n")
            loaded.append(name)
        return loaded

    # ---- readiness -----------------------------------------------------------

    def _node_ready(self) -> bool:
        return condition_true(self.kubectl().get_json("node", L.NODE_NAME), "Ready")

    def _deployment_available(self, name: str) -> bool:
        obj = self.kubectl().get_json("deployment", name, "-n", "kube-system")
        return condition_true(obj, "Available")

    def _metrics_api_available(self) -> bool:
        obj = self.kubectl().get_json("apiservice", "v1beta1.metrics.k8s.io")
        return condition_true(obj, "Available")

    # ---- status --------------------------------------------------------------

    def status(self) -> NodeStatus:
        result = NodeStatus(self.layout.root)
        result.daemons = {name: self.state.alive(name) for name in DAEMONS}
        if result.any_running and self.cluster.kubeconfig.exists():
            try:
                result.node_ready = self._node_ready()
                result.dns_ready = self._deployment_available("coredns")
                result.metrics_ready = self._metrics_api_available()
            except (subprocess.SubprocessError, OSError, FileNotFoundError):
                pass
        if not result.any_running:
            result.leftovers = leftovers(self.layout)
        return result

    # ---- down ----------------------------------------------------------------

    def down(self, purge: bool = False) -> list[str]:
        """Stop everything `up` started and undo what it changed; returns what is left over."""
        if not self.layout.state_file.exists():
            # Never started here (or already down): touch nothing, not even KUBE-* chains
            # that some other kube-proxy on this machine might own.
            if purge:
                shutil.rmtree(self.layout.root, ignore_errors=True)
            return leftovers(self.layout)
        bins = find_existing()
        # Rules first: with the agent gone they would only let packets bypass the queue.
        netfilter.delete_rules(self.state.data.get("mangle_rules", []), table="mangle")
        self._stop("netpol-agent")
        self._stop("kubelet")
        sandbox_netns: list[str] = []
        if bins.path("crictl").exists() and self.state.alive("containerd"):
            sandbox_netns = self._sandbox_netns(bins)
            # Tear every pod down through the CRI, so CNI DEL releases IPs, rules and netns.
            self.crictl(bins, "rmp", "--all", "--force")
        self._stop("containerd")
        _kill_orphan_shims(self.layout.containerd_socket)
        _remove_pod_cgroups()
        _remove_log_links(
            self.layout.pod_logs_dir,
            remove_dir=not self.state.data.get("container_log_links_dir_existed", True),
        )
        self._stop("kube-proxy")
        if bins.path("kube-proxy").exists():
            subprocess.run([str(bins.path("kube-proxy")), "--cleanup"], capture_output=True)
        _delete_kube_chains()
        _unmount_under(self.layout.root)
        _remove_netns(sandbox_netns)
        netfilter.delete_rules(self.state.data.get("forward_rules", []))
        netfilter.delete_rules(self.state.data.get("nat_rules", []), table="nat")
        netfilter.delete_cni_leftovers()
        before = set(self.state.data.get("portmap_chains_before", netfilter.PORTMAP_CHAINS))
        netfilter.delete_portmap_chains([c for c in netfilter.PORTMAP_CHAINS if c not in before])
        if self.state.data.get("bridge_created", True):
            netfilter.delete_bridge()
        _restore_sysctls(self.state.data.get("sysctls_before", {}))
        if bins.path("kubectl").exists() and _api_answers(self.cluster):
            # The Node object would otherwise linger NotReady, holding pods bound to it.
            self.kubectl(bins).run(
                "delete", "node", L.NODE_NAME, "--ignore-not-found", "--wait=false", check=False
            )
            # metrics-server ran on this node; an APIService left without a backend makes
            # API discovery fail, and that stalls every namespace deletion in the cluster.
            self.kubectl(bins).run(
                "delete", "apiservice", "v1beta1.metrics.k8s.io", "--ignore-not-found", check=False
            )
        self.layout.state_file.unlink(missing_ok=True)
        self.state = _State(self.layout.state_file)
        if purge:
            shutil.rmtree(self.layout.root, ignore_errors=True)
        return leftovers(self.layout)

    def _sandbox_netns(self, bins: NodeBinaries) -> list[str]:
        """Network namespace paths of every pod sandbox our containerd holds."""
        ids = self.crictl(bins, "pods", "-q").stdout.split()
        paths = []
        for sandbox in ids:
            out = self.crictl(bins, "inspectp", sandbox).stdout
            try:
                spec = json.loads(out)["info"]["runtimeSpec"]["linux"]["namespaces"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
            paths += [n["path"] for n in spec if n.get("type") == "network" and n.get("path")]
        return paths

    def _stop(self, name: str) -> None:
        pid = self.state.data["pids"].get(name)
        if pid:
            processes.stop_pid(pid, self.state.data["argv0"][name])
            self.state.data["pids"].pop(name, None)
            self.state.save()


# ---- module helpers ----------------------------------------------------------


def _find_kubectl() -> Path:
    return find_existing().path("kubectl")


def _api_answers(cluster: LocalCluster) -> bool:
    healthy, _ = cluster.check_component("kube-apiserver")
    return healthy


def _containerd_answers(socket: Path) -> bool:
    command = images.ctr_command(socket, "version")
    return subprocess.run(command, capture_output=True).returncode == 0


def _qualified(image: str) -> str:
    """The name containerd gives a Docker Hub style reference (`a/b:t` -> `docker.io/a/b:t`)."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if "/" in image else f"docker.io/library/{image}"


def _docker_image_id(name: str) -> str | None:
    """The ID of a local Docker image, or None when Docker or the image is missing."""
    if shutil.which("docker") is None:
        return None
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", name],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def _http_ok(url: str) -> bool:
    import urllib.request

    # Node daemons answer on loopback; an $HTTP_PROXY must not carry the probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _wait(condition: Callable[[], bool], what: str, node: NodeLayout) -> None:
    if not processes.wait_until(condition, START_TIMEOUT_S, 1.0):
        raise TimeoutError(f"{what}: not within {START_TIMEOUT_S:.0f}s (logs in {node.log_dir})")


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4].replace("\\040", " ")
        if mount_point.startswith(prefix):
            found.append(mount_point)
    return found


def _unmount_under(root: Path) -> None:
    # Deepest first: a parent cannot be unmounted while a child is mounted on it.
    for mount_point in sorted(_mounts_under(root), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount_point], capture_output=True)


# What the kubelet (overcommit, panic) and our networking (forwarding) may change.
TOUCHED_SYSCTLS = (
    "vm/overcommit_memory",
    "kernel/panic",
    "kernel/panic_on_oops",
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
)


def _read_sysctls() -> dict[str, str]:
    values = {}
    for name in TOUCHED_SYSCTLS:
        try:
            values[name] = Path("/proc/sys", name).read_text().strip()
        except OSError:
            continue
    return values


def _restore_sysctls(values: dict[str, str]) -> None:
    for name, value in values.items():
        path = Path("/proc/sys", name)
        try:
            if path.read_text().strip() != value:
                path.write_text(value + "\n")
        except OSError:
            continue


def _remove_netns(paths: list[str]) -> None:
    """Unmount and delete the given sandbox namespaces if CNI DEL left them behind."""
    for path in paths:
        if Path(path).exists():
            subprocess.run(["umount", path], capture_output=True)
            Path(path).unlink(missing_ok=True)


def _kill_orphan_shims(socket: Path) -> None:
    """containerd-shim-runc-v2 processes our containerd started (they name its socket)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        argv = processes.command_line(int(proc.name))
        if argv and argv[0].endswith("containerd-shim-runc-v2") and str(socket) in argv:
            processes.stop_pid(int(proc.name), argv[0], grace_s=5)


# The kubelet always links container logs here (not configurable), into its podLogsDir.
CONTAINER_LOG_LINKS = Path("/var/log/containers")


def _our_log_links(pod_logs_dir: Path) -> list[Path]:
    if not CONTAINER_LOG_LINKS.is_dir():
        return []
    prefix = str(pod_logs_dir) + "/"
    return [
        link
        for link in CONTAINER_LOG_LINKS.iterdir()
        if link.is_symlink() and os.readlink(link).startswith(prefix)
    ]


def _remove_log_links(pod_logs_dir: Path, remove_dir: bool) -> None:
    for link in _our_log_links(pod_logs_dir):
        link.unlink(missing_ok=True)
    if remove_dir and CONTAINER_LOG_LINKS.is_dir() and not any(CONTAINER_LOG_LINKS.iterdir()):
        CONTAINER_LOG_LINKS.rmdir()


CGROUP_ROOT = Path("/sys/fs/cgroup")
# The kubelet's cgroupRoot: every pod cgroup lives under it, so ours are unmistakable.
POD_CGROUP = L.CGROUP_ROOT.strip("/")


def _cgroup_hierarchies() -> list[Path]:
    if not CGROUP_ROOT.is_dir():
        return []
    return [p for p in CGROUP_ROOT.iterdir() if (p / "cgroup.procs").exists()]


def _pod_cgroup_dirs() -> list[Path]:
    return [h / POD_CGROUP for h in _cgroup_hierarchies() if (h / POD_CGROUP).is_dir()]


def _create_pod_cgroups() -> None:
    """The kubelet refuses a cgroupRoot that does not exist in every hierarchy."""
    for hierarchy in _cgroup_hierarchies():
        ours = hierarchy / POD_CGROUP
        ours.mkdir(exist_ok=True)
        # A new cpuset cgroup starts with no CPUs or memory nodes: inherit the parent's.
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (hierarchy / name).exists() and not (ours / name).read_text().strip():
                (ours / name).write_text((hierarchy / name).read_text())


def _remove_pod_cgroups() -> None:
    """Kill what still runs in the pod cgroups (a shim died first), then remove them."""
    for top in _pod_cgroup_dirs():
        for procs in top.rglob("cgroup.procs"):
            for pid in procs.read_text().split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
    for top in _pod_cgroup_dirs():
        # rmdir fails while a process is still exiting; wait for the cgroup to empty.
        processes.wait_until(
            lambda top=top: (
                not any(
                    (d / "cgroup.procs").read_text().strip() for d in top.rglob("*") if d.is_dir()
                )
            ),
            10.0,
        )
        for directory in sorted(
            (d for d in top.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True
        ):
            directory.rmdir()
        top.rmdir()


def _delete_kube_chains() -> None:
    """KUBE-* chains the kubelet and kube-proxy made (kube-proxy --cleanup misses some)."""
    for table in ("filter", "nat", "mangle"):
        dump = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True).stdout
        chains = [line[1:].split()[0] for line in dump.splitlines() if line.startswith(":KUBE-")]
        for line in dump.splitlines():
            if line.startswith("-A ") and " -j KUBE-" in line and not line.startswith("-A KUBE-"):
                subprocess.run(
                    ["iptables", "-t", table, "-D", *netfilter._split_rule(line[3:])],
                    capture_output=True,
                )
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-F", chain], capture_output=True)
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-X", chain], capture_output=True)


def leftovers(node: NodeLayout) -> list[str]:
    """Anything of ours still on the machine: processes, mounts (netns too), rules, bridge."""
    found = [f"mount {m}" for m in _mounts_under(node.root)] if node.root.exists() else []
    found += [f"iptables {r}" for r in netfilter.our_rules()]
    if netfilter.bridge_exists():
        found.append(f"link {L.BRIDGE}")
    found += [f"cgroup {d}" for d in _pod_cgroup_dirs()]
    found += [f"log link {link}" for link in _our_log_links(node.pod_logs_dir)]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            argv = processes.command_line(int(proc.name))
            if any(str(node.root) in arg for arg in argv):
                found.append(f"process {proc.name}: {' '.join(argv)[:120]}")
    return found


def up(
    node_dir: Path | None = None,
    cluster_dir: Path | None = None,
    app_images: tuple[str, ...] | None = None,
) -> NodeStatus:
    """Join a real node to the running local control plane; idempotent."""
    return Node(node_dir, cluster_dir).up(app_images)


def down(
    node_dir: Path | None = None, cluster_dir: Path | None = None, purge: bool = False
) -> list[str]:
    """Stop the node and undo its host changes; returns anything left over (empty when clean)."""
    return Node(node_dir, cluster_dir).down(purge)


def status(node_dir: Path | None = None, cluster_dir: Path | None = None) -> NodeStatus:
    """What runs, whether the Node is Ready, whether DNS and metrics answer."""
    return Node(node_dir, cluster_dir).status()


__all__ = ["Node", "NodeStatus", "down", "status", "up"]
