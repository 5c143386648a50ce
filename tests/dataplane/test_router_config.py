"""The router renderer refuses bad input with a clear message, and nginx accepts what it renders."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from modelserve_operator.builders.router_config import (
    Backend,
    RouterConfig,
    render_key_map,
    render_nginx_config,
)

BLUE = Backend("blue", "10.96.0.10:80", 90)
GREEN = Backend("green", "10.96.0.11:80", 10)
SHADOW = Backend("shadow", "10.96.0.12:80", 0)


def config(**changes) -> RouterConfig:
    fields = {
        "endpoint": "iris",
        "backends": (BLUE, GREEN, SHADOW),
        "mirror": None,
        "auth_mode": "key",
    }
    fields.update(changes)
    return RouterConfig(**fields)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"endpoint": "Iris_Endpoint"}, "endpoint: 'Iris_Endpoint' is not a DNS label"),
        (
            {"backends": (BLUE, Backend("green", "10.96.0.11:80", 5))},
            "traffic weights sum to 95; they must sum to 100 or 0",
        ),
        ({"backends": (Backend("blue", "10.96.0.10:80", 101),)}, "backends[0].weight: 101"),
        ({"backends": (BLUE, Backend("blue", "10.96.0.11:80", 10))}, "listed twice"),
        ({"backends": (BLUE, Backend("Green", "10.96.0.11:80", 10))}, "backends[1].name"),
        ({"backends": (BLUE, Backend("green", "10.96.0.11", 10))}, "backends[1].address"),
        ({"backends": (BLUE, Backend("green", "10.96.0.11:0", 10))}, "port 1..65535"),
        ({"backends": (BLUE, Backend("green", "a b;c:80", 10))}, "backends[1].address"),
        ({"backends": (BLUE, Backend("green", "10.96.0.300:80", 10))}, "not an IPv4 address"),
        ({"mirror": ("purple", 10)}, "mirror: 'purple' is not one of the backends"),
        ({"mirror": ("green", 10)}, "mirror: 'green' takes 10% of live traffic"),
        ({"mirror": ("shadow", 60)}, "mirror: percent 60 must be an integer 1..50"),
        ({"mirror": ("shadow", 0)}, "mirror: percent 0"),
        ({"auth_mode": "token"}, "auth_mode: 'token' must be 'key' or 'none'"),
        ({"keys_file": "keys.conf"}, "keys_file"),
        ({"keys_file": "/etc/keys;evil"}, "keys_file"),
        ({"request_timeout_ms": 0}, "request_timeout_ms"),
        ({"listen_port": 70000}, "listen_port"),
        ({"grpc_listen_port": 8080}, "grpc_listen_port: 8080 must be 0 (off)"),
        ({"grpc_listen_port": -1}, "grpc_listen_port"),
        ({"backend_grpc_port": 0}, "backend_grpc_port: 0 must be 1..65535"),
    ],
)
def test_bad_router_input_is_refused_naming_the_field(changes, message):
    with pytest.raises(ValueError) as raised:
        render_nginx_config(config(**changes))
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([], "at least one key"),
        (["short"], "keys[0]"),
        (["a-valid-key-0123456789", 'x" 1; default 1; "'], "keys[1]"),
        (["$http_host-0123456789abcdef"], "keys[0]"),
        (["~.*0123456789abcdef"], "keys[0]"),
    ],
)
def test_keys_that_could_escape_the_nginx_map_are_refused(keys, message):
    with pytest.raises(ValueError) as raised:
        render_key_map(keys)
    assert message in str(raised.value)


def test_keys_are_only_in_the_keys_file_never_in_the_config():
    keys_file = "/etc/modelserve/keys/nginx-keys.conf"
    rendered = render_nginx_config(config())
    key_map = render_key_map(["primary-0123456789abcdef", "secondary-0123456789abcdef"])

    assert f"include {keys_file};" in rendered
    assert '"primary-0123456789abcdef" 1;' in key_map
    assert '"secondary-0123456789abcdef" 1;' in key_map
    assert "0123456789abcdef" not in rendered


def test_grpc_goes_to_each_backends_own_host_at_the_grpc_port():
    rendered = render_nginx_config(config(backend_grpc_port=9001))

    assert "listen 8081 http2 reuseport;" in rendered
    for host in ("10.96.0.10", "10.96.0.11", "10.96.0.12"):
        assert f"server {host}:9001 max_fails=0;" in rendered
    assert "grpc_pass grpc://$modelserve_grpc_upstream;" in rendered
    assert "http2" not in render_nginx_config(config(grpc_listen_port=0))


def test_without_auth_the_config_includes_no_keys_file():
    assert "include" not in render_nginx_config(config(auth_mode="none"))


@pytest.mark.nginx
@pytest.mark.parametrize(
    "cfg",
    [
        config(),
        config(auth_mode="none", mirror=("shadow", 50)),
        config(backends=(Backend("blue", "10.96.0.10:80", 0),), auth_mode="none"),
        config(backends=(), auth_mode="none"),
        config(backends=(Backend("blue", "[fd00::10]:80", 100),), auth_mode="none"),
        config(backends=(Backend("blue", "localhost:80", 100),)),
        config(grpc_listen_port=0),
    ],
    ids=["split-key", "mirror", "all-zero", "no-deployments", "ipv6", "hostname", "no-grpc"],
)
def test_nginx_accepts_every_rendered_variant(nginx_binary, cfg):
    with tempfile.TemporaryDirectory() as workdir:
        keys_file = Path(workdir) / "keys.conf"
        keys_file.write_text(render_key_map(["primary-0123456789abcdef"]))
        conf = Path(workdir) / "nginx.conf"
        conf.write_text(
            render_nginx_config(
                RouterConfig(
                    **{**cfg.__dict__, "keys_file": str(keys_file), "runtime_dir": workdir}
                )
            )
        )
        result = subprocess.run(
            [nginx_binary, "-t", "-c", str(conf), "-p", workdir],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 0, result.stderr
