"""Operator settings, read once from MODELSERVE_* environment variables."""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from modelserve_api import constants as c

from .builders import BuilderSettings
from .builders.common import DEFAULT_METRICS_FROM, NetworkPolicySettings
from .election import ElectionTiming

# Where a pod finds its own namespace (the Lease lives there unless told otherwise).
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class LeaderElectionSettings:
    """Whether replicas elect a leader, through which Lease, and its timing."""

    enabled: bool = False
    lease_name: str = "modelserve-operator"
    lease_namespace: str = ""
    # Unique per process: a restarted container must wait for the old lease like anyone.
    identity: str = ""
    timing: ElectionTiming = field(default_factory=ElectionTiming)

    @classmethod
    def from_env(cls, env: dict[str, str]) -> LeaderElectionSettings:
        enabled = env.get("MODELSERVE_LEADER_ELECTION", "false").lower() in ("1", "true", "yes")
        namespace = env.get("MODELSERVE_LEASE_NAMESPACE", "")
        if enabled and not namespace and SERVICE_ACCOUNT_NAMESPACE.exists():
            namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
        if enabled and not namespace:
            raise ValueError(
                "MODELSERVE_LEADER_ELECTION is on but the Lease's namespace is unknown: "
                "set MODELSERVE_LEASE_NAMESPACE"
            )
        pod = env.get("MODELSERVE_POD_NAME") or socket.gethostname()
        return cls(
            enabled=enabled,
            lease_name=env.get("MODELSERVE_LEASE_NAME", "modelserve-operator"),
            lease_namespace=namespace,
            identity=f"{pod}_{uuid.uuid4().hex[:8]}",
            timing=ElectionTiming(
                lease_duration_s=float(env.get("MODELSERVE_LEASE_DURATION_SECONDS", "10")),
                renew_deadline_s=float(env.get("MODELSERVE_LEASE_RENEW_DEADLINE_SECONDS", "7")),
                retry_period_s=float(env.get("MODELSERVE_LEASE_RETRY_PERIOD_SECONDS", "2")),
            ),
        )


@dataclass(frozen=True)
class OperatorSettings:
    """Images, watched namespaces and the ports of the operator's own endpoints."""

    builder: BuilderSettings = field(default_factory=BuilderSettings)
    watch_namespaces: tuple[str, ...] = ()
    # Address the metrics and liveness endpoints bind (all interfaces in a pod).
    bind_address: str = "0.0.0.0"
    metrics_port: int = 8090
    liveness_port: int = 8091
    # Safety net for drift nothing else reported (children are also watched directly).
    resync_seconds: float = 120.0
    max_workers: int = 16
    leader_election: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> OperatorSettings:
        env = dict(os.environ if env is None else env)
        namespaces = tuple(
            n.strip() for n in env.get("MODELSERVE_WATCH_NAMESPACES", "").split(",") if n.strip()
        )
        return cls(
            builder=BuilderSettings(
                scoring_image=env.get("MODELSERVE_SCORING_IMAGE", c.DEFAULT_SCORING_IMAGE),
                router_image=env.get("MODELSERVE_ROUTER_IMAGE", c.DEFAULT_ROUTER_IMAGE),
                image_pull_policy=env.get("MODELSERVE_IMAGE_PULL_POLICY", "IfNotPresent"),
                node_selector=_pairs(env.get("MODELSERVE_NODE_SELECTOR", "")),
                network=_network_policies(env),
            ),
            watch_namespaces=namespaces,
            bind_address=env.get("MODELSERVE_OPERATOR_BIND_ADDRESS", "0.0.0.0"),
            metrics_port=int(env.get("MODELSERVE_OPERATOR_METRICS_PORT", "8090")),
            liveness_port=int(env.get("MODELSERVE_OPERATOR_LIVENESS_PORT", "8091")),
            resync_seconds=float(env.get("MODELSERVE_RESYNC_SECONDS", "120")),
            max_workers=int(env.get("MODELSERVE_MAX_WORKERS", "16")),
            leader_election=LeaderElectionSettings.from_env(env),
        )


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """Parse "k=v,k2=v2" (MODELSERVE_NODE_SELECTOR); an entry without "=" is an error."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"MODELSERVE_NODE_SELECTOR: {item!r} is not key=value")
        pairs.append((key, value))
    return tuple(pairs)


def _network_policies(env: dict[str, str]) -> NetworkPolicySettings:
    """MODELSERVE_NETWORK_POLICIES, _METRICS_FROM (JSON peers) and _API_SERVER_CIDRS."""
    enabled = env.get("MODELSERVE_NETWORK_POLICIES", "true").strip().lower()
    if enabled not in ("true", "false"):
        raise ValueError(f"MODELSERVE_NETWORK_POLICIES: {enabled!r} is neither true nor false")
    metrics_from = DEFAULT_METRICS_FROM
    if "MODELSERVE_METRICS_FROM" in env:
        peers = json.loads(env["MODELSERVE_METRICS_FROM"])
        if not isinstance(peers, list) or not all(isinstance(p, dict) and p for p in peers):
            raise ValueError(
                "MODELSERVE_METRICS_FROM: not a JSON list of NetworkPolicy peers "
                '(e.g. [{"namespaceSelector": {}}])'
            )
        metrics_from = tuple(peers)
    cidrs = tuple(
        cidr.strip()
        for cidr in env.get("MODELSERVE_API_SERVER_CIDRS", "").split(",")
        if cidr.strip()
    )
    return NetworkPolicySettings(
        enabled=enabled == "true", metrics_from=metrics_from, api_server_cidrs=cidrs
    )
