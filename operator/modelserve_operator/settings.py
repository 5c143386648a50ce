"""Operator settings, read once from MODELSERVE_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from modelserve_api import constants as c

from .builders import BuilderSettings


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
            ),
            watch_namespaces=namespaces,
            bind_address=env.get("MODELSERVE_OPERATOR_BIND_ADDRESS", "0.0.0.0"),
            metrics_port=int(env.get("MODELSERVE_OPERATOR_METRICS_PORT", "8090")),
            liveness_port=int(env.get("MODELSERVE_OPERATOR_LIVENESS_PORT", "8091")),
            resync_seconds=float(env.get("MODELSERVE_RESYNC_SECONDS", "120")),
            max_workers=int(env.get("MODELSERVE_MAX_WORKERS", "16")),
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
