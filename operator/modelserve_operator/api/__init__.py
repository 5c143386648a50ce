"""Typed views of the modelserve.io custom resources: the one place that knows their shape."""

from .batch_deployment import (
    BatchDeployment,
    BatchDeploymentSpec,
    BatchDeploymentStatus,
    parse_batch_deployment,
)
from .common import ModelReference, ObjectMeta, ScoringScript, SpecError
from .model import Artifact, Model, ModelSpec, ModelStatus, parse_model
from .online_endpoint import (
    Autoscale,
    EndpointDeployment,
    OnlineEndpoint,
    OnlineEndpointSpec,
    OnlineEndpointStatus,
    parse_online_endpoint,
)
from .resolved import ResolvedModel
from .training import TrainingSpec, TrainingStatus

__all__ = [
    "Artifact",
    "Autoscale",
    "BatchDeployment",
    "BatchDeploymentSpec",
    "BatchDeploymentStatus",
    "EndpointDeployment",
    "Model",
    "ModelReference",
    "ModelSpec",
    "ModelStatus",
    "ObjectMeta",
    "OnlineEndpoint",
    "OnlineEndpointSpec",
    "OnlineEndpointStatus",
    "ResolvedModel",
    "ScoringScript",
    "SpecError",
    "TrainingSpec",
    "TrainingStatus",
    "parse_batch_deployment",
    "parse_model",
    "parse_online_endpoint",
]
