"""Which runtime serves a Model, as a scoring pod reports it, recorded in the Model's status."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modelserve_api import Model
from modelserve_api import conditions as cond
from modelserve_api import constants as c
from modelserve_api.model import RuntimeStatus
from modelserve_api.runtime_report import LoadRefusal, RuntimeParameters

from ..kube import Kube

log = logging.getLogger(__name__)

# A failed read is tried again after 5 s, 10 s, ... up to 10 minutes.
FIRST_RETRY_S = 5.0
MAX_RETRY_S = 600.0
# A pod whose runtime choice is pending is read again every 2 s, for at most 5 minutes.
PENDING_RETRY_S = 2.0
MAX_PENDING_READS = 150

# (namespace, pod, model name) -> the pod's v2 model metadata
FetchMetadata = Callable[[str, str, str], dict[str, Any]]


def fetch_through_pod_proxy(kube: Kube) -> FetchMetadata:
    """Read `GET /v2/models/<model>` of a scoring pod through the API server's pod proxy."""

    def fetch(namespace: str, pod: str, model_name: str) -> dict[str, Any]:
        path = f"v2/models/{model_name}"
        return kube.pod_proxy_get(namespace, pod, c.SCORING_HTTP_PORT, path, timeout_s=3.0)

    return fetch


def runtime_report(
    metadata: dict[str, Any], reported_by: str, now: dt.datetime
) -> dict[str, Any] | None:
    """`status.runtime` of a Model from a pod's v2 metadata; None if it names no runtime, or
    its choice is still pending (scikit-learn serves while ONNX Runtime is checked)."""
    parameters = RuntimeParameters.from_metadata(metadata)
    if not parameters.runtime or parameters.runtime_pending:
        return None
    return RuntimeStatus(
        requested=parameters.runtime_requested or "",
        selected=parameters.runtime,
        fallback=parameters.runtime_fallback or "",
        reason=parameters.runtime_fallback_reason or "",
        library_versions=parameters.library_versions,
        serving_library_versions=parameters.serving_library_versions,
        library_version_mismatch=parameters.library_version_mismatch or "",
        # a pod that loaded it clears an earlier refusal (a newer image, say)
        load_refused="",
        load_refused_reason="",
        reported_by=reported_by,
        observed_at=cond.format_time(now),
    ).to_wire()


def refusal_report(refusal: LoadRefusal, reported_by: str, now: dt.datetime) -> dict[str, Any]:
    """`status.runtime` of a Model its scoring pods refuse to load."""
    return RuntimeStatus(
        library_versions=refusal.library_versions,
        serving_library_versions=refusal.serving_library_versions,
        # only a version refusal is a mismatch; a fetch refusal (the artifact) is not
        library_version_mismatch=refusal.message
        if refusal.reason == c.REFUSED_LIBRARY_VERSION
        else "",
        load_refused=refusal.message,
        load_refused_reason=refusal.reason,
        reported_by=reported_by,
        observed_at=cond.format_time(now),
    ).to_wire()


class RuntimeReporter:
    """Copies each served Model version's runtime choice into its status, in the background.

    The choice is made in the scoring pod at load time (ONNX Runtime only where it gives
    scikit-learn's answers; with runtime auto, a pod is Ready before it has chosen, and its
    pending choice is read again later), and a pod cannot write the Model: the operator reads
    it from one Ready pod through the API server. That read may be slow (a pod the API server
    cannot reach times out), so it never runs on the reconcile path: reconciles only ask
    for it. One report per Model uid and requested runtime; failed reads back off, a pending
    choice is read again every PENDING_RETRY_S.
    """

    def __init__(self, kube: Kube, fetch: FetchMetadata | None = None) -> None:
        self.kube = kube
        self.fetch = fetch or fetch_through_pod_proxy(kube)
        self._lock = threading.Lock()
        self._done: set[tuple[str, str]] = set()
        self._busy: set[tuple[str, str]] = set()
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}
        self._pending_reads: dict[tuple[str, str], int] = {}
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="modelserve-runtime")

    def request(self, model: Model, requested: str, pod_selector: str, reported_by: str) -> None:
        """Have the runtime of `model` read from one Ready pod matching `pod_selector`."""
        key = (model.metadata.uid, requested)
        with self._lock:
            not_before = self._failures.get(key, (0, 0.0))[1]
            if key in self._done or key in self._busy or time.monotonic() < not_before:
                return
            self._busy.add(key)
        self._pool.submit(self._read, key, model, pod_selector, reported_by)

    def record_refusal(self, model: Model, refusal: LoadRefusal, reported_by: str) -> None:
        """Record in the Model's status that its pods refuse to load it.

        The refusal comes from a termination message the reconcile already read, so this is
        one status patch on the reconcile path, skipped when the status already says it (the
        status, not memory, decides: a refusal cleared by hand and met again is recorded again).
        """
        runtime = model.status.runtime
        if (
            runtime is not None
            and runtime.load_refused == refusal.message
            and runtime.load_refused_reason == refusal.reason
        ):
            return
        meta = model.metadata
        with self._lock:
            # a pod that loads it later must be read again (its report clears the refusal)
            self._done = {k for k in self._done if k[0] != meta.uid}
        report = refusal_report(refusal, reported_by, dt.datetime.now(dt.UTC))
        self.kube.patch_status(
            c.API_VERSION, c.KIND_MODEL, meta.namespace, meta.name, {"runtime": report}
        )

    def _read(
        self, key: tuple[str, str], model: Model, pod_selector: str, reported_by: str
    ) -> None:
        meta = model.metadata
        done = pending = False
        try:
            pods = self.kube.list("v1", "Pod", meta.namespace, pod_selector)
            pod = next((p for p in pods if _ready(p)), None)
            if pod is not None:
                metadata = self.fetch(
                    meta.namespace, pod["metadata"]["name"], model.spec.model_name
                )
                pending = RuntimeParameters.from_metadata(metadata).runtime_pending
                report = runtime_report(metadata, reported_by, dt.datetime.now(dt.UTC))
                if report is not None:
                    self.kube.patch_status(
                        c.API_VERSION, c.KIND_MODEL, meta.namespace, meta.name, {"runtime": report}
                    )
                    done = True
        except Exception as error:  # best effort: the next request tries again
            log.info("runtime of Model %s/%s not read yet: %s", meta.namespace, meta.name, error)
        with self._lock:
            if pending and self._read_again_soon(key, model, pod_selector, reported_by):
                return  # still busy: the timer reads it again
            self._pending_reads.pop(key, None)
            self._busy.discard(key)
            if done:
                self._done.add(key)
                self._failures.pop(key, None)
            else:
                failures = self._failures.get(key, (0, 0.0))[0] + 1
                delay = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** (failures - 1))
                self._failures[key] = (failures, time.monotonic() + delay)

    def _read_again_soon(
        self, key: tuple[str, str], model: Model, pod_selector: str, reported_by: str
    ) -> bool:
        """The pod is Ready but still checking ONNX Runtime (runtime auto, seconds to minutes):
        read it again in PENDING_RETRY_S by itself, as no reconcile may ask before the resync.
        False once it has been pending for MAX_PENDING_READS reads (then reconciles ask)."""
        reads = self._pending_reads.get(key, 0) + 1
        if reads > MAX_PENDING_READS:
            return False
        self._pending_reads[key] = reads

        def submit() -> None:
            try:
                self._pool.submit(self._read, key, model, pod_selector, reported_by)
            except RuntimeError:  # stopped meanwhile
                with self._lock:
                    self._busy.discard(key)

        timer = threading.Timer(PENDING_RETRY_S, submit)
        timer.daemon = True
        timer.start()
        return True

    def stop(self) -> None:
        """Drop reads not started yet; one in progress ends by its own timeout."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c_["type"] == "Ready" and c_["status"] == "True" for c_ in conditions)
