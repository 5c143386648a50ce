"""How to start each benchmarked server (ours, MLServer, KServe, a bare ASGI baseline)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from models import BenchModel

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_VENV = BENCH_DIR.parent / ".venv"
PEER_CACHE = Path(
    os.environ.get("MODELSERVE_BENCH_CACHE", Path.home() / ".cache/modelserve/bench-r1")
)
# MODELSERVE_BENCH_PORT moves all three, for two benchmarks on one machine
HTTP_PORT = int(os.environ.get("MODELSERVE_BENCH_PORT", "18080"))
SIDE_PORT_A = HTTP_PORT + 1  # gRPC or metrics, whichever the server insists on opening
SIDE_PORT_B = HTTP_PORT + 2


@dataclass
class ServerLaunch:
    """A command line that serves `model` over OIP v2 on 127.0.0.1:HTTP_PORT."""

    label: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> text, written first

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{HTTP_PORT}"


def _parse_variant(spec: str) -> tuple[str, dict[str, str]]:
    """`mlserver:parallel_workers=0` -> ("mlserver", {"parallel_workers": "0"})."""
    kind, _, rest = spec.partition(":")
    options: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            # A bare word names our runtime mode: `ours:sklearn`.
            key, value = "runtime", key
        options[key] = value
    return kind, options


def _ours(model: BenchModel, options: dict[str, str]) -> ServerLaunch:
    env = {
        "MODELSERVE_MODEL_NAME": model.name,
        "MODELSERVE_MODEL_DIR": str(model.directory),
        "MODELSERVE_ARTIFACT_PATH": str(model.artifact),
        "MODELSERVE_ARTIFACT_SHA256": model.sha256,
        "MODELSERVE_HTTP_PORT": str(HTTP_PORT),
        "MODELSERVE_METRICS_PORT": str(SIDE_PORT_A),
    }
    # `source=DIR`: the scoring server of another checkout (DIR/serving-image) with this venv,
    # to compare two versions of it side by side in one run.
    source = options.pop("source", None)
    if source is not None:
        env["PYTHONPATH"] = str(Path(source) / "serving-image")
    # Anything else (`runtime=sklearn`, `max_batch_size=32`) maps to MODELSERVE_<KEY>.
    env.update({f"MODELSERVE_{key.upper()}": value for key, value in options.items()})
    return ServerLaunch(
        label="", argv=[str(PROJECT_VENV / "bin/modelserve-scoring"), "serve"], env=env
    )


def _mlserver(model: BenchModel, options: dict[str, str]) -> ServerLaunch:
    # MLServer's documented default is one separate inference worker process
    # (parallel_workers=1); `mlserver:parallel_workers=0` runs inference in-process.
    settings = {
        "http_port": HTTP_PORT,
        "grpc_port": SIDE_PORT_A,
        "metrics_port": SIDE_PORT_B,
        "host": "127.0.0.1",
        "load_models_at_startup": True,
    }
    for key, value in options.items():
        settings[key] = (
            json.loads(value) if value[:1].isdigit() or value in ("true", "false") else value
        )
    model_settings = {
        "name": model.name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(model.artifact)},
    }
    venv = PEER_CACHE / "mlserver-venv"
    return ServerLaunch(
        label="",
        argv=[str(venv / "bin/mlserver"), "start", "."],
        env={"PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}"},
        files={
            "settings.json": json.dumps(settings),
            f"{model.name}/model-settings.json": json.dumps(model_settings),
        },
    )


def _kserve(model: BenchModel, options: dict[str, str]) -> ServerLaunch:
    argv = [
        str(PEER_CACHE / "kserve-venv/bin/python"),
        str(BENCH_DIR / "peers/kserve_joblib_server.py"),
        f"--model_name={model.name}",
        f"--artifact={model.artifact}",
        f"--sha256={model.sha256}",
        f"--http_port={HTTP_PORT}",
        f"--grpc_port={SIDE_PORT_A}",
    ]
    # Defaults as KServe ships them (gRPC on, a latency log line per request);
    # `kserve:enable_latency_logging=false` and friends override them.
    argv += [f"--{key}={value}" for key, value in options.items()]
    return ServerLaunch(label="", argv=argv)


def _bare(model: BenchModel, options: dict[str, str]) -> ServerLaunch:
    argv = [
        str(PROJECT_VENV / "bin/python"),
        str(BENCH_DIR / "peers/bare_asgi.py"),
        str(model.artifact),
        model.sha256,
        str(HTTP_PORT),
    ]
    return ServerLaunch(label="", argv=argv)


LAUNCHERS = {"ours": _ours, "mlserver": _mlserver, "kserve": _kserve, "bare": _bare}
PEERS = ("mlserver", "kserve")


def build_launch(spec: str, model: BenchModel) -> ServerLaunch:
    kind, options = _parse_variant(spec)
    if kind not in LAUNCHERS:
        raise ValueError(f"unknown server {spec!r}; choose from {sorted(LAUNCHERS)}")
    launch = LAUNCHERS[kind](model, options)
    launch.label = spec
    return launch


def server_kind(spec: str) -> str:
    return _parse_variant(spec)[0]


def missing_prerequisites(specs: list[str]) -> list[str]:
    """Executables the chosen servers need that are not installed."""
    needed = {"wrk": shutil.which("wrk"), "taskset": shutil.which("taskset")}
    kinds = {server_kind(spec) for spec in specs}
    if "ours" in kinds:
        needed["modelserve-scoring"] = str(PROJECT_VENV / "bin/modelserve-scoring")
    if "mlserver" in kinds:
        needed["mlserver venv"] = str(PEER_CACHE / "mlserver-venv/.complete")
    if "kserve" in kinds:
        needed["kserve venv"] = str(PEER_CACHE / "kserve-venv/.complete")
    return [name for name, path in needed.items() if not path or not Path(path).exists()]
