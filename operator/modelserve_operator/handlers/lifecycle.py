"""Start-up configuration of Kopf, the metrics endpoint and the liveness probe."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from modelserve_api import constants as c

from ..crd_check import crd_problems, report
from ..metrics import serve_metrics
from ..reconcilers.status import crd_problems_found, set_crd_problems
from .state import state

log = logging.getLogger(__name__)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    shared = state()
    # Keep Kopf's bookkeeping in annotations of our own prefix: our status schema is
    # structural and would prune a `status.kopf` field.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=c.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=c.GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{c.GROUP}/kopf-finalizer"
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = shared.settings.max_workers
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60
    if shared.settings.watch_namespaces:
        # A namespaced install may not list namespaces or watch CRDs (cluster-scoped):
        # Kopf would retry for a minute, logging errors, before using the names it was given.
        settings.scanning.disabled = True
    port = shared.settings.metrics_port
    if serve_metrics(port, shared.settings.bind_address):
        log.info("metrics on :%d/metrics", port)


def check_crds(*, at_start: bool = False) -> None:
    """Compare the installed CRDs with this operator's; objects of an outdated one say so."""
    problems = crd_problems(state().kube)
    if at_start or problems != crd_problems_found():
        report(problems)
    set_crd_problems(problems)


@kopf.on.startup()
def check_crds_at_start(**_: Any) -> None:
    # Before any reconcile: the first status written already carries the condition. The
    # resync looks again, so CRDs upgraded after the operator lift it without a restart.
    check_crds(at_start=True)


@kopf.on.startup()
def start_resync(**_: Any) -> None:
    # Imported here: the handler modules import this one's package.
    from .batch_deployments import reconcile_batch_deployment
    from .models import reconcile_model
    from .online_endpoints import reconcile_endpoint

    shared = state()
    shared.queue.start()
    shared.resync.start(
        shared.settings.resync_seconds,
        {
            c.KIND_ONLINE_ENDPOINT: reconcile_endpoint,
            c.KIND_MODEL: reconcile_model,
            c.KIND_BATCH_DEPLOYMENT: reconcile_batch_deployment,
        },
        before_pass=check_crds,
    )


@kopf.on.cleanup()
def stop_resync(**_: Any) -> None:
    shared = state()
    shared.resync.stop()
    # Reconciles are idempotent: one cut short is redone by the next operator.
    shared.queue.stop(timeout=5.0)
    shared.endpoints.runtimes.stop()


@kopf.on.probe(id="apiserver")
def apiserver_reachable(**_: Any) -> bool:
    # The liveness endpoint fails when the API server cannot be reached with our client.
    # A namespaced install may read only its watched namespaces, not "default".
    shared = state()
    namespace = (shared.settings.watch_namespaces or ("default",))[0]
    shared.kube.list(c.API_VERSION, c.KIND_MODEL, namespace)
    return True


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    # In a pod: the service account. Elsewhere: $KUBECONFIG as it is now (the client
    # library's own loader captured it at import time, before a test or CLI set it).
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
