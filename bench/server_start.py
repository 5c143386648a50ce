"""The scoring server's start by hand: process start → liveness → readiness → first answer, for
the small iris LogisticRegression bench/coldstart.py deploys, across checkouts side by side.

    .venv/bin/python bench/server_start.py --rounds 9 \\
        --variants "/tmp/base;.;.+COMPILE_BEFORE_READY=true;.+RUNTIME=sklearn"

A variant is a checkout (its api/ and serving-image/ on PYTHONPATH, this venv), optionally
followed by `+KEY=VALUE` settings (MODELSERVE_<KEY>, `+` between several); `git archive
<commit> api serving-image | tar -x -C /tmp/base` makes one of another commit. "settled" is
when the metadata no longer says runtime_pending (runtime auto's background check chose). Rounds are
interleaved and rotate their order; the figures are medians, and the ratios are the medians of
each round's ratio to the first variant, which is what to quote on a busy machine. The server
gets the settings of a scoring pod (digest checked, gRPC served); `fetch` is the init
container's command on the same artifact.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

MARKS = ("fetch", "live", "ready", "first answer", "settled")
ROW = [5.1, 3.5, 1.4, 0.2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def iris_model(directory: Path) -> str:
    """The walk-through's iris model (hack/walkthrough.py) in `directory`; returns its sha256."""
    x, y = load_iris(return_X_y=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), buffer)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.joblib").write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def parse_variant(spec: str) -> tuple[Path, dict[str, str]]:
    source, *settings = spec.split("+")
    return Path(source).resolve(), dict(item.split("=", 1) for item in settings)


def environment(source: Path, settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSERVE_")}
    env["PYTHONPATH"] = f"{source / 'api'}:{source / 'serving-image'}"
    env.update({f"MODELSERVE_{key.upper()}": value for key, value in settings.items()})
    return env


def time_fetch(env: dict[str, str], artifact: Path, sha256: str, scratch: Path) -> float:
    """Seconds of `modelserve-scoring fetch` of the artifact, start to exit."""
    dest = Path(tempfile.mkdtemp(dir=scratch))
    command = [sys.executable, "-m", "modelserve_scoring.cli", "fetch"]
    started = time.perf_counter()
    subprocess.run(
        [*command, "--uri", str(artifact), "--sha256", sha256, "--dest", str(dest)],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def time_server(
    env: dict[str, str], model_dir: Path, sha256: str, log: Path, poll_s: float
) -> dict:
    """Seconds from process start to liveness, readiness and the first 200 of a v2 call."""
    port = free_port()
    env = {
        **env,
        "MODELSERVE_HOST": "127.0.0.1",
        "MODELSERVE_HTTP_PORT": str(port),
        "MODELSERVE_GRPC_PORT": env.get("MODELSERVE_GRPC_PORT") or str(free_port()),
        "MODELSERVE_METRICS_PORT": str(free_port()),
        "MODELSERVE_MODEL_NAME": "iris",
        "MODELSERVE_MODEL_DIR": str(model_dir),
        "MODELSERVE_ARTIFACT_SHA256": sha256,
    }
    base = f"http://127.0.0.1:{port}"
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROW}]}
    ).encode()
    marks: dict[str, float] = {}
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "modelserve_scoring.cli", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = started + 120
        while "ready" not in marks:
            if process.poll() is not None or time.perf_counter() > deadline:
                raise SystemExit(f"the server did not turn ready:\n{log.read_text()}")
            status = get(base + "/v2/health/ready")
            now = time.perf_counter() - started
            if status:
                marks.setdefault("live", now)
            if status == 200:
                marks["ready"] = now
            else:
                time.sleep(poll_s)
        request = urllib.request.Request(
            base + "/v2/models/iris/infer", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        marks["first answer"] = time.perf_counter() - started
        while True:  # runtime auto: until the background check has chosen
            with urllib.request.urlopen(base + "/v2/models/iris", timeout=10) as response:
                parameters = json.load(response)["parameters"]
            if not parameters.get("runtime_pending") or time.perf_counter() > deadline:
                break
            time.sleep(poll_s)
        marks["settled"] = time.perf_counter() - started
        marks["runtime"] = parameters.get("runtime")
        return marks
    finally:
        process.terminate()
        process.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=".", help="';'-separated, see above")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--poll",
        type=float,
        default=0.1,
        help="seconds between readiness calls (each takes the event loop from the load thread "
        "for a moment; the kubelet's probe comes every second)",
    )
    args = parser.parse_args()
    variants = args.variants.split(";")
    with tempfile.TemporaryDirectory(prefix="server-start-") as scratch:
        root = Path(scratch)
        sha256 = iris_model(root / "model")
        results: dict[str, list[dict]] = {v: [] for v in variants}
        for index in range(args.rounds):
            shift = index % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                source, settings = parse_variant(variant)
                env = environment(source, settings)
                marks = {"fetch": time_fetch(env, root / "model" / "model.joblib", sha256, root)}
                marks |= time_server(env, root / "model", sha256, root / "server.log", args.poll)
                results[variant].append(marks)
                figures = ", ".join(f"{k} {marks[k]:.2f}" for k in MARKS)
                print(f"round {index + 1} {variant}: {figures} ({marks['runtime']})", flush=True)
    first = results[variants[0]]
    print(f"\nmedians of {args.rounds} rounds, seconds from process start (ratio to the first):")
    for variant, rounds in results.items():
        cells = []
        for mark in MARKS:
            median = statistics.median(r[mark] for r in rounds)
            ratio = statistics.median(r[mark] / f[mark] for r, f in zip(rounds, first, strict=True))
            cells.append(f"{mark} {median:.2f} ({ratio:.2f}x)")
        print(f"  {variant}: " + ", ".join(cells) + f"; settled on {rounds[-1]['runtime']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
