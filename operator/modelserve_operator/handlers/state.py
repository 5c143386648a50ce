"""The operator's process-wide objects, made once at start-up and shared by the handlers."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from modelserve_api import conditions as cond
from modelserve_api import constants as c

from .. import leadership
from ..kube import Kube
from ..reconcilers.batch_deployment import BatchDeploymentReconciler
from ..reconcilers.model import ModelReconciler
from ..reconcilers.online_endpoint import OnlineEndpointReconciler
from ..settings import OperatorSettings
from .resync import Resync
from .runner import Key, WorkQueue, measured


@dataclass
class OperatorState:
    """Settings, the API client, the reconcilers and the queue that runs them."""

    settings: OperatorSettings
    kube: Kube
    endpoints: OnlineEndpointReconciler
    models: ModelReconciler
    batch_deployments: BatchDeploymentReconciler
    queue: WorkQueue
    resync: Resync


_state: OperatorState | None = None
_lock = threading.Lock()


def state() -> OperatorState:
    """The shared state, created on first use (from the environment)."""
    global _state
    with _lock:
        if _state is None:
            settings = OperatorSettings.from_env()
            # Every write is fenced by the lease (a no-op without leader election).
            kube = Kube.from_environment(fence=leadership.time_left)
            _state = OperatorState(
                settings=settings,
                kube=kube,
                endpoints=OnlineEndpointReconciler(
                    kube, settings.builder, reapply_after=settings.resync_seconds
                ),
                models=ModelReconciler(
                    kube, settings.builder, mlflow_poll_seconds=settings.mlflow_poll_seconds
                ),
                batch_deployments=BatchDeploymentReconciler(kube, settings.builder),
                queue=WorkQueue(_reconcile, settings.max_workers),
                resync=Resync(),
            )
        return _state


def _reconcile(key: Key) -> object:
    """Run the reconciler of the key's kind, with metrics."""
    kind, namespace, name = key
    shared = state()
    reconcile = {
        c.KIND_ONLINE_ENDPOINT: shared.endpoints.reconcile,
        c.KIND_MODEL: shared.models.reconcile,
        c.KIND_BATCH_DEPLOYMENT: shared.batch_deployments.reconcile,
    }[kind]
    result = measured(kind, lambda: reconcile(namespace, name), _outcome)
    # A reconciler waiting on something no watch reports (a claim) asks to look again.
    retry_after = getattr(result, "retry_after", None)
    if retry_after:
        shared.queue.add(key, retry_after)
    return result


def _outcome(result: object) -> str:
    if result is None:
        return "gone"
    summary = result if isinstance(result, cond.Summary) else getattr(result, "summary", None)
    return summary.state if isinstance(summary, cond.Summary) else "done"


def reset() -> None:
    """Forget the shared state (an in-process operator restarted by tests)."""
    global _state
    with _lock:
        _state = None
