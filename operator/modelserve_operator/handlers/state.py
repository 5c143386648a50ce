"""The operator's process-wide objects, made once at start-up and shared by the handlers."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..kube import Kube
from ..reconcilers.batch_deployment import BatchDeploymentReconciler
from ..reconcilers.model import ModelReconciler
from ..reconcilers.online_endpoint import OnlineEndpointReconciler
from ..settings import OperatorSettings
from .resync import Resync
from .runner import CoalescingRunner


@dataclass
class OperatorState:
    """Settings, the API client, the reconcilers and the per-object runner."""

    settings: OperatorSettings
    kube: Kube
    endpoints: OnlineEndpointReconciler
    models: ModelReconciler
    batch_deployments: BatchDeploymentReconciler
    runner: CoalescingRunner
    resync: Resync


_state: OperatorState | None = None
_lock = threading.Lock()


def state() -> OperatorState:
    """The shared state, created on first use (from the environment)."""
    global _state
    with _lock:
        if _state is None:
            settings = OperatorSettings.from_env()
            kube = Kube.from_environment()
            _state = OperatorState(
                settings=settings,
                kube=kube,
                endpoints=OnlineEndpointReconciler(kube, settings.builder),
                models=ModelReconciler(kube),
                batch_deployments=BatchDeploymentReconciler(kube, settings.builder),
                runner=CoalescingRunner(),
                resync=Resync(),
            )
        return _state


def reset() -> None:
    """Forget the shared state (an in-process operator restarted by tests)."""
    global _state
    with _lock:
        _state = None
