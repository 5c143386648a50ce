"""Settings of the scoring server, read from MODELSERVE_* environment variables or CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from modelserve_api import constants as c
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ScoringSettings(BaseSettings):
    """Every knob of `modelserve-scoring serve`; each is also a `--kebab-case` flag."""

    model_config = SettingsConfigDict(
        env_prefix="MODELSERVE_", extra="ignore", protected_namespaces=()
    )

    model_name: str = Field("model", description="Name the model is served under.")
    model_version: str = Field("1", description="Version the model is served under.")
    deployment_name: str = Field("", description="Deployment label on every metric.")
    model_dir: Path | None = Field(None, description="Directory holding the model artifact.")
    framework: c.Framework = Field(
        c.DEFAULT_FRAMEWORK,
        description="The model's framework (the Model's spec.framework): xgboost also finds "
        "native *.json/*.ubj files in MODEL_DIR, lightgbm native *.txt files.",
    )
    artifact_path: Path | None = Field(
        None,
        description="Artifact file; default: the single *.joblib/*.pkl file in MODEL_DIR (or "
        "native model file, see FRAMEWORK).",
    )
    artifact_sha256: str | None = Field(
        None, description="Expected sha256 of the artifact, checked before it is unpickled."
    )
    allow_unverified: bool = Field(
        False,
        description="Serve an artifact although no ARTIFACT_SHA256 was given (unpickling runs "
        "code: development only). Without it, serving without a digest is refused.",
    )
    scoring_script: Path | None = Field(
        None, description="A score.py with init()/run(raw_data) replacing the default runtime."
    )
    runtime: Literal["auto", "sklearn", "onnx"] = Field(
        "auto",
        description="auto: ONNX Runtime where it gives scikit-learn's answers on a validation "
        "sample, else scikit-learn (reason in metadata, metrics, log), checked while "
        "scikit-learn already serves (see COMPILE_BEFORE_READY); onnx: ONNX Runtime or refuse "
        "to start; sklearn: never convert.",
    )
    compile_before_ready: bool = Field(
        False,
        description="runtime auto: compile and check ONNX Runtime before the server turns Ready, "
        "so its first answer comes from the runtime chosen. By default it turns Ready serving "
        "with scikit-learn as soon as the model is loaded and warmed up, and switches to ONNX "
        "Runtime once that passed the check in the background. (runtime onnx always checks "
        "before Ready.)",
    )
    library_version_policy: Literal["strict", "warn"] = Field(
        c.DEFAULT_LIBRARY_VERSION_POLICY,
        description="When the artifact recorded a scikit-learn/XGBoost/LightGBM version that "
        "differs from this image's in major or minor version: strict refuses to load it (exit "
        "1, both versions named); warn serves it and reports the mismatch in the model metadata.",
    )
    onnx_validation_rows: int = Field(
        100_000,
        ge=1_000,
        description="Random rows a compiled model must agree on with scikit-learn "
        "(edge rows come on top).",
    )
    onnx_cache: bool = Field(
        True,
        description="Keep the compiled model next to the artifact (checked by sha256 on "
        "reuse) where that directory is writable.",
    )
    onnx_trusted_sha256: str = Field(
        "",
        description="sha256 digests (comma-separated) of compiled graphs this process may take "
        "from the cache without converting again; set by the operator from the Model's status. "
        "Empty: the cache is never read.",
    )
    onnx_threads: int = Field(1, ge=1, le=64, description="ONNX Runtime intra-op threads.")
    host: str = Field("0.0.0.0", description="Address the HTTP, gRPC and metrics servers bind to.")
    http_port: int = Field(
        c.SCORING_HTTP_PORT, ge=0, le=65535, description="Port of the scoring API."
    )
    grpc_port: int = Field(
        c.SCORING_GRPC_PORT,
        ge=0,
        le=65535,
        description="Port of the Open Inference Protocol v2 gRPC API. 0 = no gRPC server.",
    )
    metrics_port: int = Field(
        c.SCORING_METRICS_PORT, ge=0, le=65535, description="Port of /metrics."
    )
    max_concurrent_requests: int = Field(
        0, ge=0, description="In-flight scoring requests per instance; beyond it 429. 0 = no limit."
    )
    request_timeout_ms: int = Field(
        5000,
        gt=0,
        description="Deadline of a scoring request from its headers to its answer: reading the "
        "body (408 when the client is too slow), decoding, predicting, encoding (504).",
    )
    drain_timeout_ms: int | None = Field(
        None,
        gt=0,
        description="Longest drain after SIGTERM before the server stops anyway; default "
        "REQUEST_TIMEOUT_MS + 2000.",
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A connection must deliver a request's complete headers within this many "
        "seconds of opening or of its previous answer, else it is closed (idle or slowloris).",
    )
    keep_alive_timeout_s: float = Field(
        5.0, gt=0, description="An idle keep-alive connection is closed after this many seconds."
    )
    max_connections: int = Field(
        1000,
        ge=0,
        description="Open connections beyond this are answered 503 and closed. 0 = no limit.",
    )
    max_batch_size: int = Field(64, ge=1, description="Most rows merged into one predict call.")
    max_batch_delay_ms: float = Field(
        2.0, ge=0, description="Longest a batch waits for requests already arriving."
    )
    predict_in_thread: bool = Field(
        False,
        description="Run predict in a worker thread instead of on the event loop "
        "(for slow models, so health checks answer during a long predict).",
    )
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0, description="Larger bodies get 413.")
    max_response_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1024,
        description="Longest answer: a model's gets 413 (send fewer rows), a scoring script's 500.",
    )
    decode_offload_bytes: int = Field(
        256 * 1024,
        ge=0,
        description="Bodies of at least this size are decoded in a worker process, so small "
        "requests are not held up behind them. 0 = always on the event loop (no worker).",
    )
    script_workers: int | None = Field(
        None,
        ge=1,
        description="Threads running a scoring script's run(); default MAX_CONCURRENT_REQUESTS, "
        "or 16. When all are busy: 429; when all are stuck in timed-out calls: not ready.",
    )
    expose_errors: bool = Field(
        False,
        description="Put the text of an exception (a scoring script's, or the server's) in the "
        "500 body; by default it is only logged, under the request id the body names.",
    )
    log_level: str = Field("info", description="Python log level name.")
    baseline_path: Path | None = Field(
        None,
        description="The trainer's baseline.json; default: baseline.json next to the artifact. "
        "Missing = no drift statistics, only row counts.",
    )
    monitor_sample_rate: float = Field(
        1.0, ge=0, le=1, description="Share of scored rows that enter the monitoring window."
    )
    monitor_window_rows: int = Field(
        5000, ge=1, description="Rows in the rolling monitoring window (oldest drop out)."
    )
    feedback_memory: int = Field(
        10_000, ge=0, description="Last request ids whose predictions are kept for /feedback."
    )
    feedback_window: int = Field(
        500, ge=1, description="Labelled rows in the rolling accuracy / error window."
    )
    collector_url: str = Field(
        "",
        description="Base URL of the endpoint's shadow collector (docs/shadow.md): when set, "
        "answers are posted there in batches off the request path, tagged shadow when the "
        "router mirrored the request. Empty: nothing is shipped.",
    )
    collector_queue: int = Field(
        10_000,
        ge=1,
        description="Answers waiting to be shipped to the collector; beyond it they are dropped "
        "and counted.",
    )
