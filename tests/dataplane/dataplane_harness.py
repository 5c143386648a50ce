"""Helpers of the router data-plane tests: real nginx and real scoring servers on loopback."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import requests
from modelserve_operator.builders.router_config import (
    Backend,
    RouterConfig,
    render_nginx_config,
)

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """`count` different free ports (each socket stays bound until all are chosen)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def port_free_on(hosts: list[str]) -> int:
    """A port nothing listens on at any of `hosts` (loopback addresses)."""
    for _ in range(100):
        port = free_port()
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

    @property
    def address(self) -> str:
        return f"{self.host}:{self.http_port}"

    def scored_requests(self) -> float:
        """Requests this server answered on /score, read from its own Prometheus metrics."""
        text = requests.get(f"http://{self.host}:{self.metrics_port}/metrics", timeout=5).text
        return sum_request_counter(text, "score")


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
