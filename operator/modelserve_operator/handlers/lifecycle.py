"""Start-up configuration of Kopf, the metrics endpoint and the liveness probe."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from prometheus_client import start_http_server

from .. import constants as c
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
    if shared.settings.metrics_port:
        start_http_server(shared.settings.metrics_port)
        log.info("metrics on :%d/metrics", shared.settings.metrics_port)


@kopf.on.probe(id="apiserver")
def apiserver_reachable(**_: Any) -> bool:
    # The liveness endpoint fails when the API server cannot be reached with our client.
    state().kube.list(c.API_VERSION, c.KIND_MODEL, "default")
    return True
