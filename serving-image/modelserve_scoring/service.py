"""The state of one serving instance: its model and what serves it (the micro-batcher, or a
scoring script's workers), readiness and drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from modelserve_api.runtime_report import RuntimeParameters

from modelserve_scoring.artifact import find_artifact, read_verified, require_digest
from modelserve_scoring.batcher import MicroBatcher
from modelserve_scoring.codecs import PREDICT, PREDICT_PROBA, ModelShape, v2_datatype
from modelserve_scoring.errors import ArtifactError, NotFound
from modelserve_scoring.heap import freeze_long_lived
from modelserve_scoring.metrics import ScoringMetrics
from modelserve_scoring.mlflow_model import is_mlflow_dir
from modelserve_scoring.monitoring import Monitoring
from modelserve_scoring.runtime.base import ModelRuntime
from modelserve_scoring.runtime.onnx_cache import trusted_digests
from modelserve_scoring.runtime.scoring_script import ScoringScript
from modelserve_scoring.runtime.versions import LibraryVersionError, refusal_line
from modelserve_scoring.script_pool import ScriptPool
from modelserve_scoring.settings import ScoringSettings
from modelserve_scoring.shipper import AnswerShipper

log = logging.getLogger(__name__)

RUNTIME_NAMES = {"onnx": "ONNX Runtime", "sklearn": "scikit-learn"}

try:
    SERVER_VERSION = version("modelserve")
except PackageNotFoundError:  # running from a source tree
    SERVER_VERSION = "0.0.0"


class ScoringService:
    """Everything the routes share; the model loads in the background after the server starts."""

    def __init__(self, settings: ScoringSettings) -> None:
        self.settings = settings
        self.metrics = ScoringMetrics(
            settings.model_name, settings.model_version, settings.deployment_name
        )
        self.runtime: ModelRuntime | None = None
        #: inputs and outputs an MLflow model's signature declares, when it was one
        self.signature: dict[str, list[dict[str, Any]]] | None = None
        self.script: ScoringScript | None = None
        self.batcher: MicroBatcher | None = None
        self.shape = ModelShape(None, None)
        self.loaded = False
        self.draining = False
        self.load_failed = False
        # a score.py may block (I/O, sleeps): its run() calls go to threads, not the event loop
        self.scripts: ScriptPool | None = None
        #: set by the server: asks it to stop (after a failed load)
        self.request_exit: Callable[[], None] = lambda: None
        #: the live window, feedback memory and their metrics (docs/scoring-server.md#monitoring)
        self.monitoring = Monitoring(settings)
        self.metrics.watch_monitoring(self.monitoring.reading)
        #: answers posted to the shadow collector, when there is one (docs/shadow.md)
        self.shipper: AnswerShipper | None = None
        if settings.collector_url:
            # outside a cluster no deployment name may be set: the model's names the answers
            self.shipper = AnswerShipper(
                settings.collector_url,
                settings.deployment_name or settings.model_name,
                settings.collector_queue,
            )
            self.shipper.start()
        #: runtime auto served natively first: the ONNX check to run once the server is ready
        self._onnx_check: Callable[[], ModelRuntime] | None = None
        #: set once the runtime that serves is the final choice (after any background check)
        self.runtime_settled = threading.Event()

    @property
    def ready(self) -> bool:
        """Ready = loaded, warmed up, not draining, and a scoring script has a worker left."""
        return self.not_ready_reason() is None

    def not_ready_reason(self) -> str | None:
        """Why the server is not ready, or None when it is."""
        if self.draining:
            return "draining"
        if not self.loaded:
            return "model not loaded yet"
        if self.scripts is not None and self.scripts.all_stuck:
            return (
                f"all {self.scripts.workers} scoring-script workers are stuck in run() calls "
                "that timed out"
            )
        return None

    def check_model(self, name: str, model_version: str | None) -> None:
        """404 unless name (and version, if given) are the served ones."""
        if name != self.settings.model_name:
            raise NotFound(
                f"model {name!r} is not served here (this server serves "
                f"{self.settings.model_name!r})"
            )
        if model_version is not None and model_version != self.settings.model_version:
            raise NotFound(
                f"model {name!r} has no version {model_version!r} here (served: "
                f"{self.settings.model_version!r})"
            )

    def _artifact_path(self) -> Path | None:
        settings = self.settings
        if settings.artifact_path is not None:
            return settings.artifact_path
        if settings.model_dir is None:
            if settings.scoring_script is not None:
                return None
            raise ArtifactError("set MODELSERVE_MODEL_DIR or MODELSERVE_ARTIFACT_PATH")
        if is_mlflow_dir(settings.model_dir):
            # an MLflow model directory is verified and loaded as a whole
            return settings.model_dir
        if settings.scoring_script is not None:
            try:
                return find_artifact(settings.model_dir, settings.framework)
            except ArtifactError:
                return None  # a script may load whatever it likes from the directory
        return find_artifact(settings.model_dir, settings.framework)

    def load_blocking(self) -> None:
        """Verify, load and warm up the model (runs in a worker thread)."""
        started = time.perf_counter()
        settings = self.settings
        artifact = self._artifact_path()
        require_digest(
            settings.artifact_sha256, settings.allow_unverified, str(artifact or settings.model_dir)
        )
        if settings.scoring_script is not None:
            if artifact is not None and settings.artifact_sha256:
                read_verified(artifact, settings.artifact_sha256)
            elif settings.artifact_sha256:
                raise ArtifactError(
                    "MODELSERVE_ARTIFACT_SHA256 is set but no artifact file was found to verify"
                )
            model_dir = settings.model_dir or (artifact.parent if artifact else None)
            script = ScoringScript(settings.scoring_script, model_dir)
            script.load()
            self.script = script
        else:
            assert artifact is not None
            self._load_model(artifact)
        self.metrics.load_seconds.set(time.perf_counter() - started)

    def _load_model(self, artifact: Path) -> None:
        """Unpickle and warm up the model, then choose its runtime, or (runtime auto) serve it
        with scikit-learn and leave the ONNX check to `_check_onnx_in_background`."""
        # scikit-learn, and ONNX Runtime's converters, are imported here, not with the server:
        # HTTP answers liveness meanwhile, and a scoring script never pays for them
        from modelserve_scoring.runtime.compile import (
            CompileOptions,
            compile_runtime,
            serve_natively_first,
        )
        from modelserve_scoring.runtime.sklearn_runtime import SklearnRuntime

        settings = self.settings
        options = CompileOptions(
            mode=settings.runtime,
            validation_rows=settings.onnx_validation_rows,
            cache=settings.onnx_cache,
            trusted_graphs=trusted_digests(settings.onnx_trusted_sha256),
            threads=settings.onnx_threads,
        )
        reference = SklearnRuntime(
            artifact,
            settings.artifact_sha256,
            settings.allow_unverified,
            settings.library_version_policy,
        )
        reference.load()
        self.signature = reference.signature
        if settings.runtime == "auto" and not settings.compile_before_ready:
            runtime = serve_natively_first(reference, options)
            self._onnx_check = lambda: compile_runtime(reference, options, artifact)
        else:
            runtime = compile_runtime(reference, options, artifact)
        self.runtime = runtime
        self._report_runtime(runtime)
        self.shape = ModelShape(runtime.n_features, runtime.feature_names)
        self.monitoring.attach(runtime, artifact)
        if self.shipper is not None:
            self.shipper.classes = runtime.classes
            self.shipper.task = "regression" if runtime.classes is None else "classification"

    def _report_runtime(self, runtime: ModelRuntime) -> None:
        selection = runtime.selection or {}
        fallback = selection.get("runtime_fallback") or ""
        if selection.get("runtime_pending"):
            fallback = "pending"
        self.metrics.set_runtime(runtime.kind, self.settings.runtime, fallback)

    def _check_onnx_in_background(self, check: Callable[[], ModelRuntime]) -> None:
        """Compile and check ONNX Runtime in a thread while scikit-learn serves; the event loop
        then takes the runtime it chose (`_switch_runtime`)."""
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                runtime = check()
            except Exception as exc:  # whatever goes wrong here, scikit-learn keeps serving
                log.exception("runtime auto: the ONNX Runtime check failed")
                runtime = self._without_onnx(f"the check failed: {type(exc).__name__}: {exc}")
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server stopped
                loop.call_soon_threadsafe(self._switch_runtime, runtime)

        # a daemon thread: a server told to stop does not wait for a check no one needs
        threading.Thread(target=run, name="onnx-check", daemon=True).start()

    def _without_onnx(self, reason: str) -> ModelRuntime:
        runtime = self.runtime
        assert runtime is not None
        runtime.selection = RuntimeParameters(
            runtime_requested=self.settings.runtime,
            runtime_fallback="error",
            runtime_fallback_reason=reason,
        ).selection()
        return runtime

    def _switch_runtime(self, runtime: ModelRuntime) -> None:
        """On the event loop, between two micro-batches: serve with `runtime` from now on (the
        check's choice: ONNX Runtime when it was exact, else the scikit-learn one, whose
        selection now says why). A batch in progress in a predict thread keeps the runtime it
        started with (MicroBatcher._predict)."""
        if runtime is not self.runtime:
            self.runtime = runtime
            if self.batcher is not None:
                self.batcher.runtime = runtime
            log.info(
                "runtime auto: now serving with %s", RUNTIME_NAMES.get(runtime.kind, runtime.kind)
            )
            freeze_long_lived()
        self._report_runtime(runtime)
        self.runtime_settled.set()

    async def start(self) -> None:
        """Load in a thread so liveness answers meanwhile; on failure ask the server to exit."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.load_blocking)
        except Exception as exc:
            self.load_failed = True
            if isinstance(exc, LibraryVersionError):
                log.error("cannot load the model: %s", exc)
                # the last log line ends in the termination message, where the operator reads it
                print(refusal_line(exc), flush=True)
            elif isinstance(exc, ArtifactError):
                log.error("cannot load the model: %s", exc)
            else:
                log.exception("cannot load the model")
            self.request_exit()
            return
        if self.runtime is not None:
            self.batcher = MicroBatcher(
                self.runtime,
                self.settings.max_batch_size,
                self.settings.max_batch_delay_ms / 1000,
                self.metrics.batch_size.observe,
                predict_in_thread=self.settings.predict_in_thread,
            )
            self.batcher.start()
        else:
            assert self.script is not None
            settings = self.settings
            workers = settings.script_workers or settings.max_concurrent_requests or 16
            self.scripts = ScriptPool(self.script, workers, settings.max_response_bytes)
            self.metrics.watch_script_pool(self.scripts)
        self.loaded = True
        freeze_long_lived()
        self.metrics.ready.set(1)
        log.info(
            "model %s version %s is ready", self.settings.model_name, self.settings.model_version
        )
        if self._onnx_check is not None:
            log.info(
                "runtime auto: serving with scikit-learn while ONNX Runtime is compiled and "
                "checked in the background"
            )
            self._check_onnx_in_background(self._onnx_check)
            self._onnx_check = None
        else:
            self.runtime_settled.set()

    async def stop(self) -> None:
        """Stop the batcher and the script threads."""
        if self.batcher is not None:
            await self.batcher.stop()
        if self.scripts is not None:
            self.scripts.shutdown()
        if self.shipper is not None:
            await asyncio.to_thread(self.shipper.stop)

    def begin_drain(self) -> None:
        """Readiness goes false; in-flight requests still complete."""
        if not self.draining:
            log.info("draining: readiness is now false")
        self.draining = True
        self.metrics.ready.set(0)

    # --- metadata -----------------------------------------------------------------------------

    def model_metadata(self) -> dict[str, Any]:
        """v2 model metadata: inputs, outputs and what loading taught us."""
        settings = self.settings
        meta: dict[str, Any] = {
            "name": settings.model_name,
            "versions": [settings.model_version],
            "platform": "sklearn" if self.script is None else "custom",
            "inputs": [],
            "outputs": [],
            "parameters": {"deployment": settings.deployment_name, "ready": self.ready},
        }
        if self.script is not None:
            meta["parameters"].update(self.script.metadata())
            return meta
        runtime = self.runtime
        if runtime is None:
            return meta
        strings = runtime.feature_names is not None
        meta["inputs"] = [
            {
                "name": "input-0",
                "datatype": "BYTES" if strings else "FP64",
                "shape": [-1, runtime.n_features if runtime.n_features is not None else -1],
            }
        ]
        predict_type = "FP64"
        if runtime.predict_dtype is not None:
            predict_type = v2_datatype(np.empty(0, dtype=runtime.predict_dtype))
        meta["outputs"] = [{"name": PREDICT, "datatype": predict_type, "shape": [-1]}]
        if runtime.has_proba:
            n_classes = len(runtime.classes) if runtime.classes is not None else -1
            meta["outputs"].append(
                {"name": PREDICT_PROBA, "datatype": "FP64", "shape": [-1, n_classes]}
            )
        if self.signature is not None:
            # an MLflow model says what it takes and gives: its signature wins
            meta["inputs"], meta["outputs"] = self.signature["inputs"], self.signature["outputs"]
        meta["parameters"].update(runtime.metadata())
        return meta
