"""Renders the nginx configuration of an OnlineEndpoint's router: split, pin, mirror, key auth.

Two doors: HTTP/1.1 on ``listen_port`` and v2 gRPC (HTTP/2 without TLS) on
``grpc_listen_port``, with the same split, pin header and keys (gRPC calls are not mirrored).

Pure functions over templates/nginx.conf.j2 (read once from the package). The rendered
file is shipped in a ConfigMap; the keys live in a Secret and reach nginx only through the
file named by ``RouterConfig.keys_file``.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from dataclasses import dataclass

import jinja2
from modelserve_api import constants as c

PIN_HEADER = "x-modelserve-deployment"
# Accepted as well, so clients written for managed endpoints keep working unchanged.
PIN_HEADER_ALIAS = "azureml-model-deployment"
SERVED_HEADER = "x-modelserve-deployment"
HEALTH_PATH = "/healthz"
MIRROR_LOCATION = "/_modelserve_mirror"
MAX_MIRROR_PERCENT = 50

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOSTNAME = re.compile(
    r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$"
)
# Keys end up inside an nginx map: no quotes, '$' (variables), '~' (regex), spaces or ';'.
_KEY = re.compile(r"^[A-Za-z0-9._+/=-]{16,512}$")
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/-]*$")


@dataclass(frozen=True)
class Backend:
    """One deployment behind the router."""

    name: str  # deployment name
    address: str  # "host:port"; in the cluster a Service ClusterIP:80, in tests 127.0.0.1:port
    weight: int  # applied live-traffic percent, 0..100


@dataclass(frozen=True)
class RouterConfig:
    """Everything the router of one endpoint needs to know."""

    endpoint: str
    backends: tuple[Backend, ...]
    mirror: tuple[str, int] | None  # (deployment name, percent 1..50) or None
    auth_mode: str  # "key" | "none"
    listen_port: int = 8080
    keys_file: str = "/etc/modelserve/keys/nginx-keys.conf"
    request_timeout_ms: int = 60000
    # Additions to the shared contract (defaults keep old callers valid):
    runtime_dir: str = "/tmp"  # pid file and temp paths; writable by the non-root user
    max_body_mb: int = 100  # largest request body accepted (413 above it)
    # Well below the pod's preStop sleep (10 s): see keepalive_time in the rendered config.
    connection_max_age_s: int = 2
    # 0 turns the gRPC door off. Every backend serves gRPC on its address's host at
    # backend_grpc_port (the scoring Service's grpc port), so Backend needs no second address.
    grpc_listen_port: int = c.ROUTER_GRPC_PORT
    backend_grpc_port: int = c.SCORING_GRPC_PORT
    # host:port of the endpoint's shadow collector: POST /feedback goes there (docs/shadow.md)
    feedback_collector: str | None = None


# gRPC status codes the router answers itself (grpc/doc/statuscodes.md).
GRPC_NOT_FOUND = 5
GRPC_DEADLINE_EXCEEDED = 4
GRPC_RESOURCE_EXHAUSTED = 8
GRPC_UNAVAILABLE = 14
GRPC_UNAUTHENTICATED = 16


def render_nginx_config(cfg: RouterConfig) -> str:
    """Return a complete nginx.conf for the endpoint's router; raise ValueError on bad input."""
    validate_router_config(cfg)
    timeout = cfg.request_timeout_ms
    return _template().render(
        cfg=cfg,
        live=[b for b in cfg.backends if b.weight > 0],
        run=cfg.runtime_dir.rstrip("/") or "/",
        timeout=timeout,
        connect_timeout=min(timeout, 5000),
        known=", ".join(b.name for b in cfg.backends) or "(none)",
        pin_header=PIN_HEADER,
        pin_header_alias=PIN_HEADER_ALIAS,
        served_header=SERVED_HEADER,
        health_path=HEALTH_PATH,
        mirror_location=MIRROR_LOCATION,
        grpc_status={
            "not_found": GRPC_NOT_FOUND,
            "deadline_exceeded": GRPC_DEADLINE_EXCEEDED,
            "resource_exhausted": GRPC_RESOURCE_EXHAUSTED,
            "unavailable": GRPC_UNAVAILABLE,
            "unauthenticated": GRPC_UNAUTHENTICATED,
        },
    )


@functools.cache
def _template() -> jinja2.Template:
    # Every value is validated before rendering and nginx is not HTML: no autoescape.
    # StrictUndefined: a name missing from render() fails instead of rendering empty.
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("modelserve_operator.builders", "templates"),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["upstream"] = _upstream_name
    environment.filters["grpc_upstream"] = lambda deployment: f"modelserve_grpc_{deployment}"
    environment.filters["with_port"] = _with_port
    environment.filters["grpc_message"] = lambda message: _nginx_string(_grpc_message(message))
    environment.filters["json_error"] = lambda message: _nginx_string(_json_error(message))
    return environment.get_template("nginx.conf.j2")


def render_key_map(keys: list[str]) -> str:
    """Return the keys file the router includes: one nginx map entry per accepted key."""
    if not keys:
        raise ValueError("keys: at least one key is required when authMode is 'key'")
    entries = []
    for index, key in enumerate(keys):
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(
                f"keys[{index}]: a key must be 16-512 characters of A-Z a-z 0-9 . _ + / = -"
            )
        entries.append(f'"{key}" 1;')
    return "# Accepted endpoint keys (from the endpoint's Secret).\n" + "\n".join(entries) + "\n"


def validate_router_config(cfg: RouterConfig) -> None:
    """Raise ValueError naming the first field that cannot produce a correct router."""
    if not _DNS_LABEL.match(cfg.endpoint or ""):
        raise ValueError(f"endpoint: {cfg.endpoint!r} is not a DNS label (a-z, 0-9, '-', ≤ 63)")
    names: set[str] = set()
    for index, backend in enumerate(cfg.backends):
        where = f"backends[{index}]"
        if not _DNS_LABEL.match(backend.name or ""):
            raise ValueError(f"{where}.name: {backend.name!r} is not a DNS label")
        if backend.name in names:
            raise ValueError(f"{where}.name: deployment {backend.name!r} is listed twice")
        names.add(backend.name)
        _validate_address(backend.address, f"{where}.address")
        if (
            not isinstance(backend.weight, int)
            or isinstance(backend.weight, bool)
            or not 0 <= backend.weight <= 100
        ):
            raise ValueError(f"{where}.weight: {backend.weight!r} must be an integer 0..100")
    total = sum(b.weight for b in cfg.backends)
    if total not in (0, 100):
        raise ValueError(f"backends: traffic weights sum to {total}; they must sum to 100 or 0")
    if cfg.mirror is not None:
        mirror_name, percent = cfg.mirror
        weights = {b.name: b.weight for b in cfg.backends}
        if mirror_name not in weights:
            raise ValueError(f"mirror: {mirror_name!r} is not one of the backends {sorted(names)}")
        if weights[mirror_name] > 0:
            raise ValueError(
                f"mirror: {mirror_name!r} takes {weights[mirror_name]}% of live traffic; "
                "only a deployment at weight 0 can be mirrored to"
            )
        if not isinstance(percent, int) or not 1 <= percent <= MAX_MIRROR_PERCENT:
            raise ValueError(f"mirror: percent {percent!r} must be an integer 1..50")
    if cfg.auth_mode not in ("key", "none"):
        raise ValueError(f"auth_mode: {cfg.auth_mode!r} must be 'key' or 'none'")
    if not 1 <= cfg.listen_port <= 65535:
        raise ValueError(f"listen_port: {cfg.listen_port} must be 1..65535")
    if not 0 <= cfg.grpc_listen_port <= 65535 or cfg.grpc_listen_port == cfg.listen_port:
        raise ValueError(
            f"grpc_listen_port: {cfg.grpc_listen_port} must be 0 (off) or 1..65535, "
            f"other than listen_port {cfg.listen_port}"
        )
    if not 1 <= cfg.backend_grpc_port <= 65535:
        raise ValueError(f"backend_grpc_port: {cfg.backend_grpc_port} must be 1..65535")
    if not _SAFE_PATH.match(cfg.keys_file or ""):
        raise ValueError(f"keys_file: {cfg.keys_file!r} must be an absolute path without spaces")
    if not _SAFE_PATH.match(cfg.runtime_dir or ""):
        raise ValueError(f"runtime_dir: {cfg.runtime_dir!r} must be an absolute path")
    if not 1 <= cfg.request_timeout_ms <= 3_600_000:
        raise ValueError(f"request_timeout_ms: {cfg.request_timeout_ms} must be 1..3600000")
    if not 1 <= cfg.max_body_mb <= 10_240:
        raise ValueError(f"max_body_mb: {cfg.max_body_mb} must be 1..10240")


def _validate_address(address: str, where: str) -> None:
    host, sep, port = (address or "").rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{where}: {address!r} must be 'host:port' with a port 1..65535")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"{where}: {host!r} is not an IPv6 address") from None
    elif re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"{where}: {host!r} is not an IPv4 address") from None
    elif not _HOSTNAME.match(host):
        raise ValueError(f"{where}: {host!r} is not an IP address or host name")


def _upstream_name(deployment: str) -> str:
    return f"modelserve_{deployment}"


def _with_port(address: str, port: int) -> str:
    """`address` ("host:port", validated) with its port replaced by `port`."""
    return f"{address.rpartition(':')[0]}:{port}"


def _grpc_message(message: str) -> str:
    # grpc-message is percent-encoded UTF-8: '%' and bytes outside printable ASCII.
    return "".join(
        ch if " " <= ch <= "~" and ch != "%" else "".join(f"%{b:02X}" for b in ch.encode())
        for ch in message
    )


def _json_error(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=True)


def _nginx_string(text: str) -> str:
    # Single-quoted nginx string; '$' must not start a variable in a static message.
    if "$" in text:
        raise ValueError("internal: static router messages must not contain '$'")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
