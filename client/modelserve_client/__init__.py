"""The modelserve client: register models, call endpoints, start batch runs (CLI and Python API).

from modelserve_client import Model, Endpoint, BatchDeployment
Model.register("model.joblib", name="iris", version="1", namespace="ml", wait=True)
Endpoint("iris", namespace="ml").invoke({"data": [[5.1, 3.5, 1.4, 0.2]]}).json()
"""

from .batch import BatchDeployment
from .endpoint import Endpoint, InvokeResult
from .errors import ModelserveError
from .kube import Kube
from .model import Model
from .progress import ConsoleProgress, Progress, SilentProgress


def connect(kubeconfig: str | None = None, context: str | None = None) -> Kube:
    """A connection to pass as `connection=`: --kubeconfig/--context, else the usual kubeconfig."""
    return Kube.connect(kubeconfig, context)


__all__ = [
    "BatchDeployment",
    "ConsoleProgress",
    "Endpoint",
    "InvokeResult",
    "Kube",
    "Model",
    "ModelserveError",
    "Progress",
    "SilentProgress",
    "connect",
]
