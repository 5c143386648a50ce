"""Helpers of the router data-plane tests: real nginx and real scoring servers on loopback."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import requests
from modelserve_api import constants as c
from modelserve_api import parse_model, parse_online_endpoint
from modelserve_operator.builders import BuilderSettings, build_scoring_deployment
from modelserve_operator.builders.router_config import (
    Backend,
    RouterConfig,
    render_nginx_config,
)
from modelserve_operator.resolved import ResolvedModel
from ports import free_port, free_ports

SCORING_CLI = Path(sys.executable).parent / "modelserve-scoring"
NOBODY = 65534
PRIMARY_KEY = "primary-key-0123456789abcdef"
SECONDARY_KEY = "secondary-key-fedcba9876543210"
SCORE_BODY = {"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll `condition` until it holds; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if condition():
                return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def port_free_on(hosts: list[str], avoid: Iterable[int] = ()) -> int:
    """A port nothing listens on at any of `hosts` (loopback addresses), none of `avoid`
    (ports already given to a server that has not bound them yet)."""
    avoid = set(avoid)
    for _ in range(100):
        port = free_port()
        if port in avoid:
            continue
        try:
            for host in hosts:
                with socket.socket() as sock:
                    sock.bind((host, port))
        except OSError:
            continue
        return port
    raise AssertionError(f"no port is free on all of {hosts}")


def http_ok(url: str) -> bool:
    return requests.get(url, timeout=1).status_code == 200


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def stop_processes(procs: Iterable[subprocess.Popen]) -> None:
    """SIGTERM all at once, so their drains overlap; then wait for (or kill) each."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        stop_process(proc)


@dataclass
class ScoringServer:
    """One real `modelserve-scoring serve` process on a loopback address of its own.

    Own addresses let every server take gRPC on the same port, as pods behind their
    Services do: the router derives a backend's gRPC address from its HTTP one.
    """

    name: str
    host: str
    http_port: int
    grpc_port: int
    metrics_port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def settled_metadata(self, model_name: str, timeout: float = 90.0) -> dict[str, Any]:
        """The v2 model metadata once the runtime is chosen: under runtime auto a server turns
        Ready answering with the library and checks ONNX Runtime in the background."""
        found: dict[str, Any] = {}

        def settled() -> bool:
            found.update(requests.get(f"{self.url}/v2/models/{model_name}", timeout=5).json())
            return not found["parameters"].get("runtime_pending")

        wait_until(settled, f"the runtime choice of {self.name} (log {self.log_path})", timeout)
        return found

    def scored_requests(self) -> float:
        """Requests this server answered on /score, read from its own Prometheus metrics."""
        text = requests.get(f"http://{self.host}:{self.metrics_port}/metrics", timeout=5).text
        return sum_request_counter(text, "score")


def launch_scoring_server(
    name: str, host: str, grpc_port: int, settings: dict[str, str], log_dir: Path
) -> ScoringServer:
    """Start `modelserve-scoring serve` as deployment `name` on `host` with these MODELSERVE_*
    settings; its HTTP and metrics ports are chosen here."""
    http_port = port_free_on([host], avoid=[grpc_port])
    metrics_port = port_free_on([host], avoid=[grpc_port, http_port])
    env = {
        **os.environ,
        **settings,
        "MODELSERVE_HOST": host,
        "MODELSERVE_HTTP_PORT": str(http_port),
        "MODELSERVE_METRICS_PORT": str(metrics_port),
        "MODELSERVE_GRPC_PORT": str(grpc_port),
        "MODELSERVE_DEPLOYMENT_NAME": name,
        "MODELSERVE_LOG_LEVEL": "warning",
    }
    log_path = log_dir / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [str(SCORING_CLI), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    return ScoringServer(name, host, http_port, grpc_port, metrics_port, process, log_path)


def wait_ready(servers: Iterable[ScoringServer], timeout: float = 90.0) -> None:
    """Wait until every server answers /v2/health/ready; a server that exits fails at once."""
    for server in servers:
        deadline = time.monotonic() + timeout
        while not _ready(server):
            if server.process.poll() is not None:
                raise AssertionError(
                    f"scoring server {server.name} exited with {server.process.returncode}:\n"
                    f"{server.log()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"scoring server {server.name} was not ready within {timeout:.0f}s "
                    f"(log {server.log_path})"
                )
            time.sleep(0.05)


def _ready(server: ScoringServer) -> bool:
    try:
        return http_ok(f"{server.url}/v2/health/ready")
    except requests.RequestException:
        return False


def pod_env(model: dict[str, Any], deployment: str, model_dir: Path) -> dict[str, str]:
    """The MODELSERVE_* variables the operator gives the scoring pod of `deployment` serving
    the Model object `model`, with the pod's model directory mapped onto `model_dir`."""
    spec = model["spec"]
    endpoint = parse_online_endpoint(
        {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "OnlineEndpoint",
            "metadata": {"name": "boosters", "namespace": "ml", "uid": "oe-uid"},
            "spec": {
                "traffic": {deployment: 100},
                "deployments": [
                    {
                        "name": deployment,
                        "model": {"name": spec["modelName"], "version": spec["version"]},
                    }
                ],
            },
        }
    )
    resolved = ResolvedModel.from_model(parse_model(model))
    manifest = build_scoring_deployment(
        endpoint, endpoint.spec.deployments[0], resolved, BuilderSettings()
    )
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if e["name"].startswith("MODELSERVE_")}
    for name, value in env.items():
        if value == c.MODEL_DIR or value.startswith(c.MODEL_DIR + "/"):
            env[name] = str(model_dir) + value.removeprefix(c.MODEL_DIR)
    return env


def sum_request_counter(metrics_text: str, route: str) -> float:
    """Sum the `modelserve_requests_total` samples of one route (every status)."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^(\w+)\{([^}]*)\}\s+(\S+)$", line)
        if not match:
            continue
        name, labels, value = match.groups()
        if name == "modelserve_requests_total" and f'route="{route}"' in labels:
            total += float(value)
    return total


class Router:
    """A real nginx running a configuration rendered by render_nginx_config."""

    def __init__(self, nginx: str, workdir: Path, cfg: RouterConfig) -> None:
        self.nginx = nginx
        self.workdir = workdir
        self.conf = workdir / "nginx.conf"
        self.cfg = cfg
        self.url = f"http://127.0.0.1:{cfg.listen_port}"
        self.grpc_target = f"127.0.0.1:{cfg.grpc_listen_port}"
        self.log_path = workdir / "nginx.log"
        self.process: subprocess.Popen | None = None

    def _write(self, cfg: RouterConfig) -> None:
        self.conf.write_text(render_nginx_config(cfg))
        self.cfg = cfg

    def start(self) -> None:
        """Start nginx and wait for /healthz; pick new ports if another socket took ours.

        The ports were free when chosen, but any socket (a client's, even) may take one
        before nginx binds it; nginx then exits with "Address already in use".
        """
        for _ in range(5):
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._launch()
            if self._wait_healthy():
                return
            log = self.log_text()[offset:]
            if self.process.poll() is None or "Address already in use" not in log:
                raise AssertionError(
                    f"nginx on {self.url} did not answer /healthz within 20 s "
                    f"(log {self.log_path}):\n{log[-2000:]}"
                )
            listen_port, grpc_listen_port = free_ports(2)
            self.cfg = replace(self.cfg, listen_port=listen_port, grpc_listen_port=grpc_listen_port)
            self.url = f"http://127.0.0.1:{self.cfg.listen_port}"
            self.grpc_target = f"127.0.0.1:{self.cfg.grpc_listen_port}"
        raise AssertionError(f"nginx found no free port in 5 tries (log {self.log_path})")

    def _launch(self) -> None:
        self._write(self.cfg)
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        _make_owned_by_nobody(self.workdir)
        self.process = subprocess.Popen(
            [self.nginx, "-c", str(self.conf), "-p", str(self.workdir), "-g", "daemon off;"],
            stdout=log,
            stderr=subprocess.STDOUT,
            # The image runs nginx as a non-root user; so do the tests, where they can.
            preexec_fn=_drop_to_nobody if os.geteuid() == 0 else None,
        )

    def _wait_healthy(self, timeout: float = 20.0) -> bool:
        """True once /healthz answers; False if nginx exited or the deadline passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(requests.RequestException):
                if http_ok(f"{self.url}/healthz"):
                    return True
            time.sleep(0.05)
        return False

    def reload(self, cfg: RouterConfig) -> None:
        """Write the new rendered file and `nginx -s reload`, as the operator's rollout would."""
        self._write(cfg)
        subprocess.run(
            [self.nginx, "-c", str(self.conf), "-p", str(self.workdir), "-s", "reload"],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _make_owned_by_nobody(directory: Path) -> None:
    if os.geteuid() != 0:
        return
    os.chmod(directory, 0o755)
    for path in [directory, *directory.iterdir()]:
        os.chown(path, NOBODY, NOBODY)


def backends(servers: dict[str, ScoringServer], **weights: int) -> list[Backend]:
    """The named scoring servers as router backends with these traffic weights."""
    return [Backend(name, servers[name].address, weight) for name, weight in weights.items()]


def with_weights(cfg: RouterConfig, weights: dict[str, int]) -> RouterConfig:
    """The same router config with other traffic weights."""
    return replace(
        cfg, backends=tuple(replace(b, weight=weights.get(b.name, 0)) for b in cfg.backends)
    )
