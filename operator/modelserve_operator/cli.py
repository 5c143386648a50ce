"""`modelserve-operator`: run the operator (all namespaces, or MODELSERVE_WATCH_NAMESPACES)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

import kopf

from . import handlers  # noqa: F401  (registers the handlers)
from .election import LeaderElector
from .handlers.state import state
from .kube import Kube
from .leadership import Leadership
from .lease_store import KubeLeaseStore
from .metrics import LEADER, serve_metrics
from .settings import OperatorSettings
from .standby import StandbyHealth

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="modelserve-operator", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = state().settings
    if not settings.leader_election.enabled:
        LEADER.set(1)  # the only replica: it always acts
        run_kopf(settings)
        return
    leadership = wait_for_leadership(settings)
    if leadership is None:
        return
    leadership.start()
    try:
        run_kopf(settings)
    finally:
        # A clean stop (SIGTERM): Kopf's cleanup has stopped every reconcile, so the lease
        # can be handed over at once instead of after it ends.
        leadership.stop(release=True)


def run_kopf(settings: OperatorSettings) -> None:
    namespaces = list(settings.watch_namespaces)
    kopf.run(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=f"http://{settings.bind_address}:{settings.liveness_port}/healthz",
    )


def wait_for_leadership(settings: OperatorSettings) -> Leadership | None:
    """Be a standby until this process holds the lease; None when stopped first."""
    election = settings.leader_election
    timing = election.timing
    # Unfenced, with timeouts shorter than the renew deadline: a renewal that hangs must
    # leave time for another try.
    lease_kube = Kube.from_environment().unfenced(
        timeout=(timing.retry_period_s, timing.renew_deadline_s / 2)
    )
    elector = LeaderElector(
        KubeLeaseStore(lease_kube, election.lease_namespace, election.lease_name),
        election.identity,
        timing,
    )
    leadership = Leadership(elector)
    serve_metrics(settings.metrics_port, settings.bind_address)
    health = StandbyHealth(
        settings.bind_address,
        settings.liveness_port,
        last_attempt=lambda: leadership.last_attempt,
        holder=elector.holder,
    )
    health.start()
    log.info(
        "standby %s: waiting for Lease %s/%s (lease %g s, renew deadline %g s, retry %g s)",
        election.identity,
        election.lease_namespace,
        election.lease_name,
        timing.lease_duration_s,
        timing.renew_deadline_s,
        timing.retry_period_s,
    )
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        log.info("standby stopping (signal %d)", signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        leading = leadership.wait_until_leading(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        health.stop()
    if not leading:
        return None
    log.info("leading as %s: starting the reconcilers", election.identity)
    return leadership


if __name__ == "__main__":
    main()
