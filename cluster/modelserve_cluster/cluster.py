"""Bring the local control plane up, report on it, and take it down."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

from modelserve_cluster import components, processes, unreachable
from modelserve_cluster.binaries import ensure_binaries
from modelserve_cluster.health import probe, tls_context, wait_until
from modelserve_cluster.kubeconfig import write_kubeconfig
from modelserve_cluster.layout import (
    KUBERNETES_SERVICE_IP,
    SERVICE_CIDR,
    Layout,
    Ports,
    default_state_dir,
)
from modelserve_cluster.pki import Pki, ensure_pki

FAKE_NODE_NAMES = ("kwok-node-0", "kwok-node-1")
START_TIMEOUT_SECONDS = 120.0


@dataclass
class ComponentStatus:
    """What `status` knows about one component."""

    name: str
    pid: int | None
    running: bool
    healthy: bool
    detail: str


@dataclass
class ClusterStatus:
    """The whole cluster as `status` sees it."""

    state_dir: Path
    kubeconfig: Path
    server: str | None
    components: list[ComponentStatus] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return bool(self.components) and all(c.running and c.healthy for c in self.components)

    @property
    def any_running(self) -> bool:
        return any(c.running for c in self.components)


class LocalCluster:
    """One local cluster: a state directory plus the loopback ports it uses."""

    def __init__(self, state_dir: Path | None = None, port_offset: int | None = None) -> None:
        self.layout = Layout(state_dir or default_state_dir())
        saved = self.layout.load_ports()
        if port_offset is not None:
            self.ports = Ports.with_offset(port_offset)
        else:
            self.ports = saved or Ports.with_offset(_offset_from_environment())
        self.pki = Pki(self.layout.pki_dir)

    @property
    def kubeconfig(self) -> Path:
        return self.layout.kubeconfig

    @property
    def server(self) -> str:
        return f"https://{components.LOOPBACK}:{self.ports.apiserver}"

    # ---- status -------------------------------------------------------------

    def _records(self) -> dict[str, processes.Recorded]:
        found = {}
        for name in components.COMPONENTS:
            record = processes.read_pid_file(self.layout.pid_file(name))
            if record:
                found[name] = record
        return found

    def _health_url(self, name: str) -> str | None:
        loopback = components.LOOPBACK
        return {
            "etcd": f"https://{loopback}:{self.ports.etcd_client}/health",
            "kube-apiserver": f"{self.server}/readyz",
            "kube-controller-manager": f"https://{loopback}:{self.ports.controller_manager}/healthz",
            "kube-scheduler": f"https://{loopback}:{self.ports.scheduler}/healthz",
        }.get(name)

    def _health_client(self, name: str) -> str | None:
        # etcd and the API server demand a client certificate; the control loops'
        # /healthz is open to anyone, like on any cluster.
        return {"etcd": "apiserver-etcd-client", "kube-apiserver": "admin"}.get(name)

    def check_component(self, name: str) -> tuple[bool, str]:
        if not self.pki.cert("ca").exists():
            return False, "no certificates yet"
        if name == "kwok":
            return self._fake_nodes_ready()
        url = self._health_url(name)
        assert url is not None
        return probe(url, tls_context(self.pki, self._health_client(name)))

    def _fake_nodes_ready(self) -> tuple[bool, str]:
        """KWOK has no health endpoint; its work, Ready simulated nodes, is the check."""
        url = f"{self.server}/api/v1/nodes?labelSelector=modelserve.io%2Fsimulated%3Dtrue"
        ok, body = probe(url, tls_context(self.pki, "admin"))
        if not ok:
            return False, body
        ready = set()
        for node in json.loads(body).get("items", []):
            conditions = node.get("status", {}).get("conditions", [])
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                ready.add(node["metadata"]["name"])
        missing = sorted(set(FAKE_NODE_NAMES) - ready)
        if missing:
            return False, f"simulated nodes not Ready: {', '.join(missing)}"
        return True, f"{len(ready)} simulated nodes Ready"

    def status(self) -> ClusterStatus:
        records = self._records()
        result = ClusterStatus(self.layout.root, self.kubeconfig, self.server)
        for name in components.COMPONENTS:
            record = records.get(name)
            running = bool(record and processes.is_alive(record))
            healthy, detail = self.check_component(name) if running else (False, "not running")
            result.components.append(
                ComponentStatus(name, record.pid if record else None, running, healthy, detail)
            )
        return result

    # ---- up -----------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One `up` or `down` at a time per state directory, across processes."""
        self.layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.layout.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def up(self, bin_dir: Path | None = None) -> ClusterStatus:
        """Start the cluster, or reuse it when it is already healthy. Idempotent."""
        with self._exclusive():
            return self._up(bin_dir)

    def _up(self, bin_dir: Path | None) -> ClusterStatus:
        current = self.status()
        if current.healthy and self.kubeconfig.exists():
            self._hold_unreachable_routes()  # a cluster started before the routes existed
            return current
        if current.any_running or self._records():
            # Half a cluster (a crash, a killed `up`): stop what is left and start clean.
            self._down()
        self._hold_unreachable_routes()
        self._check_ports_free()
        bin_dir = bin_dir or ensure_binaries()
        self.layout.create()
        self.layout.save_ports(self.ports)
        self.pki = ensure_pki(self.layout.pki_dir, KUBERNETES_SERVICE_IP)
        self._write_kubeconfigs()
        ctx = components.ComponentContext(bin_dir, self.layout, self.ports, self.pki)
        try:
            self._start(ctx)
        except BaseException:
            self._down()
            raise
        return self.status()

    def _hold_unreachable_routes(self) -> None:
        if unreachable.permitted():
            unreachable.hold(self.layout.root)
            return
        networks = ", ".join((*unreachable.SIMULATED_NETWORKS, SERVICE_CIDR))
        print(
            f"not root, so nothing stops calls to {networks} that no pod or kube-proxy "
            "rule answers: they follow the default route off this machine",
            file=sys.stderr,
        )

    def _check_ports_free(self) -> None:
        """Fail before starting anything if another program holds one of our ports."""
        for role, port in asdict(self.ports).items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe_socket:
                # Like the components themselves, ignore connections lingering in TIME_WAIT.
                probe_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe_socket.bind((components.LOOPBACK, port))
                except OSError:
                    raise RuntimeError(
                        f"port {port} ({role}) on {components.LOOPBACK} is taken by another "
                        "program; choose other ports with --port-offset or "
                        "MODELSERVE_CLUSTER_PORT_OFFSET"
                    ) from None

    def _write_kubeconfigs(self) -> None:
        ca = self.pki.cert("ca")
        for file_name, cert_name, user in (
            ("kube-controller-manager", "controller-manager", "system:kube-controller-manager"),
            ("kube-scheduler", "scheduler", "system:kube-scheduler"),
            ("kwok", "kwok", "modelserve:kwok"),
        ):
            write_kubeconfig(
                self.layout.component_kubeconfig(file_name),
                self.server,
                ca,
                self.pki.cert(cert_name),
                self.pki.key(cert_name),
                user,
            )
        write_kubeconfig(
            self.kubeconfig,
            self.server,
            ca,
            self.pki.cert("admin"),
            self.pki.key("admin"),
            "modelserve-admin",
        )

    def _launch(self, name: str, argv: list[str]) -> processes.Recorded:
        record = processes.start_detached(
            argv, self.layout.log_file(name), self.layout.pid_file(name)
        )
        if self._health_url(name):
            wait_until(
                lambda: self.check_component(name),
                f"{name} (log: {self.layout.log_file(name)})",
                START_TIMEOUT_SECONDS,
                still_running=lambda: processes.is_alive(record),
            )
        return record

    def _start(self, ctx: components.ComponentContext) -> None:
        self._launch("etcd", components.etcd_argv(ctx))
        self._launch("kube-apiserver", components.apiserver_argv(ctx))
        self.kubectl(
            ctx.bin_dir,
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=modelserve-cluster",
            "-f",
            str(_manifest("bootstrap.yaml")),
        )
        self._launch("kube-controller-manager", components.controller_manager_argv(ctx))
        self._launch("kube-scheduler", components.scheduler_argv(ctx))
        stages = self.layout.config_dir / "kwok-stages.yaml"
        shutil.copyfile(_manifest("kwok-stages.yaml"), stages)
        kwok = self._launch("kwok", components.kwok_argv(ctx, stages))
        node_template = Template(_manifest("kwok-node.yaml.tmpl").read_text())
        nodes = "---\n".join(node_template.substitute(name=n) for n in FAKE_NODE_NAMES)
        self.kubectl(
            ctx.bin_dir,
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=modelserve-cluster",
            "-f",
            "-",
            input_text=nodes,
        )
        wait_until(
            self._fake_nodes_ready,
            f"KWOK nodes Ready (log: {self.layout.log_file('kwok')})",
            START_TIMEOUT_SECONDS,
            still_running=lambda: processes.is_alive(kwok),
        )

    def kubectl(
        self, bin_dir: Path, *args: str, input_text: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the cluster's own kubectl against it with the admin kubeconfig."""
        return run_kubectl(bin_dir, self.kubeconfig, *args, input_text=input_text, check=check)

    # ---- down ---------------------------------------------------------------

    def down(self, purge: bool = False) -> None:
        """Stop exactly the processes this cluster started; optionally delete its state."""
        if not self.layout.root.exists():
            return
        with self._exclusive():
            self._down()
            if purge:
                shutil.rmtree(self.layout.root)

    def _down(self) -> None:
        records = self._records()
        ordered = [records[n] for n in reversed(components.COMPONENTS) if n in records]
        # Stop the clients before etcd, so nothing logs a storm of connection errors.
        left: list[processes.Recorded] = []
        for record in ordered:
            left += processes.stop([record])
        if left:
            pids = ", ".join(str(r.pid) for r in left)
            raise RuntimeError(f"processes still running after SIGKILL: {pids}")
        for name in components.COMPONENTS:
            self.layout.pid_file(name).unlink(missing_ok=True)
        if unreachable.permitted():
            unreachable.release(self.layout.root)


def _offset_from_environment() -> int:
    raw = os.environ.get("MODELSERVE_CLUSTER_PORT_OFFSET", "0")
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(
            f"MODELSERVE_CLUSTER_PORT_OFFSET must be an integer, got {raw!r}"
        ) from None


def _manifest(name: str) -> Path:
    return Path(str(resources.files("modelserve_cluster") / name))


def run_kubectl(
    bin_dir: Path, kubeconfig: Path, *args: str, input_text: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `bin_dir`'s kubectl with `kubeconfig`; with check=True a failure raises with stderr."""
    result = subprocess.run(
        [str(bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", *args],
        input=input_text,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result
