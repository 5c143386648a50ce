"""Settings of the scoring server, read from MODELSERVE_* environment variables or CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    artifact_path: Path | None = Field(
        None, description="Artifact file; default: the single *.joblib/*.pkl file in MODEL_DIR."
    )
    artifact_sha256: str | None = Field(
        None, description="Expected sha256 of the artifact, checked before it is unpickled."
    )
    scoring_script: Path | None = Field(
        None, description="A score.py with init()/run(raw_data) replacing the default runtime."
    )
    runtime: Literal["auto", "sklearn", "onnx"] = Field(
        "auto",
        description="auto: ONNX Runtime where it gives scikit-learn's answers on a validation "
        "sample, else scikit-learn (reason in metadata, metrics, log); onnx: ONNX Runtime or "
        "refuse to start; sklearn: never convert.",
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
    onnx_threads: int = Field(1, ge=1, le=64, description="ONNX Runtime intra-op threads.")
    host: str = Field("0.0.0.0", description="Address the HTTP and metrics servers bind to.")
    http_port: int = Field(8080, ge=0, le=65535, description="Port of the scoring API.")
    metrics_port: int = Field(8082, ge=0, le=65535, description="Port of /metrics.")
    max_concurrent_requests: int = Field(
        0, ge=0, description="In-flight scoring requests per instance; beyond it 429. 0 = no limit."
    )
    request_timeout_ms: int = Field(5000, gt=0, description="A scoring request over it gets 504.")
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
