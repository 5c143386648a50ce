"""How to start each benchmarked server (ours, MLServer, KServe, a bare baseline)."""

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
    #: "labels" (the estimator's `predict`) or "probabilities" (P(class 1) per row, what a
    #: binary booster's own `predict` gives; the peers' LightGBM and KServe boosting servers)
    answers: str = "labels"
    #: where the server serves OIP v2 over gRPC, if it does
    grpc_port: int | None = None

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
        "MODELSERVE_GRPC_PORT": str(SIDE_PORT_A),
        "MODELSERVE_METRICS_PORT": str(SIDE_PORT_B),
        # runtime auto: Ready once ONNX Runtime is chosen, not while scikit-learn serves and
        # the check runs in the background, so a run measures the runtime chosen
        "MODELSERVE_COMPILE_BEFORE_READY": "true",
    }
    # `source=DIR`: the scoring server of another checkout (DIR/serving-image) with this venv,
    # to compare two versions of it side by side in one run.
    source = options.pop("source", None)
    if source is not None:
        env["PYTHONPATH"] = str(Path(source) / "serving-image")
    # Anything else (`runtime=sklearn`, `max_batch_size=32`) maps to MODELSERVE_<KEY>.
    env.update({f"MODELSERVE_{key.upper()}": value for key, value in options.items()})
    return ServerLaunch(
        label="",
        argv=[str(PROJECT_VENV / "bin/modelserve-scoring"), "serve"],
        env=env,
        grpc_port=SIDE_PORT_A,
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
    # Boosted models go to MLServer's runtime for their library, which loads the native file:
    # XGBoost's answers labels (it loads an XGBClassifier), LightGBM's the booster's
    # probabilities.
    implementation, uri, answers = "mlserver_sklearn.SKLearnModel", model.artifact, "labels"
    if model.native_library == "xgboost":
        implementation, uri = "mlserver_xgboost.XGBoostModel", model.native_artifact
    elif model.native_library == "lightgbm":
        implementation, uri = "mlserver_lightgbm.LightGBMModel", model.native_artifact
        answers = "probabilities"
    model_settings = {
        "name": model.name,
        "implementation": implementation,
        "parameters": {"uri": str(uri)},
    }
    venv = PEER_CACHE / "mlserver-venv"
    return ServerLaunch(
        label="",
        answers=answers,
        grpc_port=SIDE_PORT_A,
        argv=[str(venv / "bin/mlserver"), "start", "."],
        env={"PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}"},
        files={
            "settings.json": json.dumps(settings),
            f"{model.name}/model-settings.json": json.dumps(model_settings),
        },
    )


def _kserve(model: BenchModel, options: dict[str, str]) -> ServerLaunch:
    python = str(PEER_CACHE / "kserve-venv/bin/python")
    answers = "labels"
    if model.native_library is None:
        argv = [python, str(BENCH_DIR / "peers/kserve_joblib_server.py")]
        argv += [f"--artifact={model.artifact}", f"--sha256={model.sha256}"]
    else:
        # KServe's xgbserver/lgbserver are not on PyPI: a model class shaped like them.
        argv = [python, str(BENCH_DIR / "peers/kserve_booster_server.py")]
        argv += [
            f"--library={model.native_library}",
            f"--artifact={model.native_artifact}",
            f"--sha256={model.native_sha256}",
        ]
        answers = "probabilities"
    argv += [
        f"--model_name={model.name}",
        f"--http_port={HTTP_PORT}",
        f"--grpc_port={SIDE_PORT_A}",
    ]
    # Defaults as KServe ships them (gRPC on, a latency log line per request);
    # `kserve:enable_latency_logging=false` and friends override them.
    argv += [f"--{key}={value}" for key, value in options.items()]
    return ServerLaunch(label="", argv=argv, answers=answers, grpc_port=SIDE_PORT_A)


def _bare(model: BenchModel, options: dict[str, str]) -> ServerLaunch:
    argv = [
        str(PROJECT_VENV / "bin/python"),
        str(BENCH_DIR / "peers/bare.py"),
        str(model.artifact),
        model.sha256,
        str(HTTP_PORT),
        str(SIDE_PORT_A),
    ]
    # `bare:cache=true`: answers memoised per request body, the transport's own ceiling
    if options.pop("cache", "false") == "true":
        argv.append("--cache")
    if options:
        raise ValueError(f"bare takes only cache=true, not {sorted(options)}")
    return ServerLaunch(label="", argv=argv, grpc_port=SIDE_PORT_A)


LAUNCHERS = {"ours": _ours, "mlserver": _mlserver, "kserve": _kserve, "bare": _bare}
PEERS = ("mlserver", "kserve")


def build_launch(spec: str, model: BenchModel) -> ServerLaunch:
    kind, options = _parse_variant(spec)
    if kind not in LAUNCHERS:
        raise ValueError(f"unknown server {spec!r}; choose from {sorted(LAUNCHERS)}")
    launch = LAUNCHERS[kind](model, options)
    launch.label = spec
    return launch


def split_server_list(text: str) -> list[str]:
    """`ours:source=D,runtime=auto,mlserver` -> ["ours:source=D,runtime=auto", "mlserver"]: a
    comma starts a new server only before a server's name; `;` always does."""
    specs: list[str] = []
    for group in text.split(";"):
        current: list[str] = []
        for item in filter(None, (part.strip() for part in group.split(","))):
            if current and ":" in current[-1] and _parse_variant(item)[0] not in LAUNCHERS:
                current[-1] += f",{item}"  # another KEY=VALUE of the variant before it
            else:
                current.append(item)
        specs += current
    return specs


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
