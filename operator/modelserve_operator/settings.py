"""Operator settings: MODELSERVE_* environment variables, typed and checked by pydantic-settings."""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from modelserve_api import constants as c
from pydantic import AliasGenerator, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .builders import BuilderSettings
from .builders.common import DEFAULT_METRICS_FROM, NetworkPolicySettings
from .election import ElectionTiming

# Where a pod finds its own namespace (the Lease lives there unless told otherwise).
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
PREFIX = "MODELSERVE_"


class OperatorEnvironment(BaseSettings):
    """Every MODELSERVE_* variable the operator reads; a bad value is refused by its name.

    Lists and pairs are parsed by the validators below (NoDecode), so that a mapping given
    to `model_validate` (the tests) and the process environment are read the same way.
    """

    model_config = SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=lambda name: PREFIX + name.upper()),
        extra="ignore",
        frozen=True,
    )

    scoring_image: str = c.DEFAULT_SCORING_IMAGE
    router_image: str = c.DEFAULT_ROUTER_IMAGE
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    #: "k=v,k2=v2": where the operator's pods go
    node_selector: Annotated[tuple[tuple[str, str], ...], NoDecode] = ()
    #: comma-separated; empty: every namespace
    watch_namespaces: Annotated[tuple[str, ...], NoDecode] = ()
    network_policies: Literal["true", "false"] = "true"
    #: a JSON list of NetworkPolicy peers allowed to scrape the scoring pods' metrics
    metrics_from: Annotated[tuple[dict[str, Any], ...], NoDecode] = DEFAULT_METRICS_FROM
    api_server_cidrs: Annotated[tuple[str, ...], NoDecode] = ()
    # Address the metrics and liveness endpoints bind (all interfaces in a pod).
    operator_bind_address: str = "0.0.0.0"
    operator_metrics_port: int = Field(8090, ge=1, le=65535)
    operator_liveness_port: int = Field(8091, ge=1, le=65535)
    # Safety net for drift nothing else reported (children are also watched directly).
    resync_seconds: float = Field(120.0, gt=0)
    max_workers: int = Field(16, ge=1)
    # How often a Model with artifact.mlflow.followAlias asks the registry where its alias is.
    mlflow_poll_seconds: float = Field(60.0, ge=5)
    leader_election: bool = False
    lease_name: str = "modelserve-operator"
    lease_namespace: str = ""
    pod_name: str = ""
    lease_duration_seconds: float = 10.0
    lease_renew_deadline_seconds: float = 7.0
    lease_retry_period_seconds: float = 2.0

    @field_validator("network_policies", mode="before")
    @classmethod
    def _lowercase(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("watch_namespaces", "api_server_cidrs", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("node_selector", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        pairs = []
        for item in filter(None, (part.strip() for part in value.split(","))):
            key, sep, label = item.partition("=")
            if not sep or not key:
                raise ValueError(f"{item!r} is not key=value")
            pairs.append((key, label))
        return tuple(pairs)

    @field_validator("metrics_from", mode="before")
    @classmethod
    def _peers(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, list | tuple) or not all(isinstance(p, dict) and p for p in value):
            raise ValueError(
                'not a JSON list of NetworkPolicy peers (e.g. [{"namespaceSelector": {}}])'
            )
        return tuple(value)


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
    def from_environment(cls, env: OperatorEnvironment) -> LeaderElectionSettings:
        namespace = env.lease_namespace
        if env.leader_election and not namespace and SERVICE_ACCOUNT_NAMESPACE.exists():
            namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
        if env.leader_election and not namespace:
            raise ValueError(
                "MODELSERVE_LEADER_ELECTION is on but the Lease's namespace is unknown: "
                "set MODELSERVE_LEASE_NAMESPACE"
            )
        pod = env.pod_name or socket.gethostname()
        return cls(
            enabled=env.leader_election,
            lease_name=env.lease_name,
            lease_namespace=namespace,
            identity=f"{pod}_{uuid.uuid4().hex[:8]}",
            timing=ElectionTiming(
                lease_duration_s=env.lease_duration_seconds,
                renew_deadline_s=env.lease_renew_deadline_seconds,
                retry_period_s=env.lease_retry_period_seconds,
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
    # How often a followed MLflow alias is looked up, unless the Model says (pollSeconds).
    mlflow_poll_seconds: float = 60.0
    leader_election: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> OperatorSettings:
        """From the process environment, or from `env` (a mapping of MODELSERVE_* names)."""
        read = OperatorEnvironment() if env is None else OperatorEnvironment.model_validate(env)
        return cls(
            builder=BuilderSettings(
                scoring_image=read.scoring_image,
                router_image=read.router_image,
                image_pull_policy=read.image_pull_policy,
                node_selector=read.node_selector,
                network=NetworkPolicySettings(
                    enabled=read.network_policies == "true",
                    metrics_from=read.metrics_from,
                    api_server_cidrs=read.api_server_cidrs,
                ),
            ),
            watch_namespaces=read.watch_namespaces,
            bind_address=read.operator_bind_address,
            metrics_port=read.operator_metrics_port,
            liveness_port=read.operator_liveness_port,
            resync_seconds=read.resync_seconds,
            max_workers=read.max_workers,
            mlflow_poll_seconds=read.mlflow_poll_seconds,
            leader_election=LeaderElectionSettings.from_environment(read),
        )
