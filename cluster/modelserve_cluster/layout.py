"""Where a local cluster keeps its files and which loopback ports it listens on."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

# Non-default ports, so the cluster never collides with a real etcd or API server.
DEFAULT_APISERVER_PORT = 16443
DEFAULT_ETCD_CLIENT_PORT = 12379
DEFAULT_ETCD_PEER_PORT = 12380
DEFAULT_CONTROLLER_MANAGER_PORT = 16257
DEFAULT_SCHEDULER_PORT = 16259

SERVICE_CIDR = "10.0.0.0/16"
# The first address of the service range is always the `kubernetes` Service.
KUBERNETES_SERVICE_IP = "10.0.0.1"
POD_CIDR = "10.244.0.0/16"
# Simulated nodes' addresses; like POD_CIDR, nothing answers them (see unreachable.py).
FAKE_NODE_CIDR = "10.245.0.0/16"
FAKE_NODE_IP = "10.245.0.1"


def default_state_dir() -> Path:
    """`$MODELSERVE_CLUSTER_DIR`, else `~/.modelserve/cluster`."""
    override = os.environ.get("MODELSERVE_CLUSTER_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return Path.home() / ".modelserve" / "cluster"


@dataclass(frozen=True)
class Ports:
    """The loopback ports of one cluster; shifted together by an offset."""

    apiserver: int = DEFAULT_APISERVER_PORT
    etcd_client: int = DEFAULT_ETCD_CLIENT_PORT
    etcd_peer: int = DEFAULT_ETCD_PEER_PORT
    controller_manager: int = DEFAULT_CONTROLLER_MANAGER_PORT
    scheduler: int = DEFAULT_SCHEDULER_PORT

    @classmethod
    def with_offset(cls, offset: int) -> Ports:
        base = cls()
        return cls(**{name: port + offset for name, port in asdict(base).items()})


@dataclass(frozen=True)
class Layout:
    """Every path of one cluster's state directory."""

    root: Path

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data_dir(self) -> Path:
        return self.root / "etcd-data"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig users and tests point at."""
        return self.root / "kubeconfig"

    @property
    def ports_file(self) -> Path:
        return self.root / "ports.json"

    def component_kubeconfig(self, component: str) -> Path:
        return self.config_dir / f"{component}.kubeconfig"

    def pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    def create(self) -> None:
        for directory in (self.root, self.log_dir, self.run_dir, self.config_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # etcd refuses a data directory that others can read.
        self.etcd_data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)

    def save_ports(self, ports: Ports) -> None:
        self.ports_file.write_text(json.dumps(asdict(ports), indent=2) + "\n")

    def load_ports(self) -> Ports | None:
        """The ports the last `up` used, or None if it never ran here."""
        try:
            return Ports(**json.loads(self.ports_file.read_text()))
        except FileNotFoundError:
            return None
