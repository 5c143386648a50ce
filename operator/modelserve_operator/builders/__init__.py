"""Pure builders: a custom resource's spec plus resolved facts in, child manifests out."""

from .common import BuilderSettings, child_name, owner_reference, with_owner
from .router import (
    build_keys_secret,
    build_router_configmap,
    build_router_deployment,
    build_router_pdb,
    build_router_service,
    router_config_hash,
    scoring_uri,
)
from .scoring import build_hpa, build_pdb, build_scoring_deployment, build_scoring_service
from .traffic import applied_traffic

__all__ = [
    "BuilderSettings",
    "applied_traffic",
    "build_hpa",
    "build_keys_secret",
    "build_pdb",
    "build_router_configmap",
    "build_router_deployment",
    "build_router_pdb",
    "build_router_service",
    "build_scoring_deployment",
    "build_scoring_service",
    "child_name",
    "owner_reference",
    "router_config_hash",
    "scoring_uri",
    "with_owner",
]
