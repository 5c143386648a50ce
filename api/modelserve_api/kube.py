"""The one Kubernetes REST client of every component: connections, timeouts and typed errors.

The operator and the client each keep their own verbs (server-side apply with a write fence
for the one, errors a user can act on for the other); both send through `Connection`, so a
timeout, an unreachable server or an answer that is not JSON is handled once, here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, config

#: (connect, read) seconds of every call unless the caller names its own: an API server that
#: stops answering fails the call instead of holding a thread or a terminal for good.
DEFAULT_TIMEOUT = (5.0, 60.0)
# Bodies quoted in errors are cut here: a proxy's HTML page says enough in its first lines.
QUOTED_BODY = 500


class KubeError(Exception):
    """An API call failed; carries the HTTP status (0: no answer) and the server's message."""

    def __init__(self, status: int, reason: str, message: str, name: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        #: the object the server named in its answer ("" when it named none)
        self.name = name


class ConfigurationError(Exception):
    """No usable configuration: not in a pod, or a kubeconfig that is missing or broken."""


class Unreachable(KubeError):
    """No answer: the connection was refused or reset, or the server did not answer in time."""


class Unauthorized(KubeError):
    """401: the server did not accept the credentials."""


class Forbidden(KubeError):
    """403: the credentials may not do this."""


class NotFound(KubeError):
    """404: no such object (`name` set), or the server does not serve the resource at all."""


class Conflict(KubeError):
    """409: the object already exists, or it changed since the resourceVersion sent."""


class Invalid(KubeError):
    """400 or 422: the server refused what was sent; the message names the field."""


class ServerError(KubeError):
    """5xx, or a success whose body is not the JSON asked for."""


_ERROR_BY_STATUS: dict[int, type[KubeError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    400: Invalid,
    422: Invalid,
}


def _json_or_none(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def error_from_answer(status: int, raw: bytes | str | None) -> KubeError:
    """The typed error for an answer with status >= 400, read from its Status body if any."""
    error_type = _ERROR_BY_STATUS.get(status, ServerError if status >= 500 else KubeError)
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else (raw or "")
    data = _json_or_none(text) if text else None
    if not isinstance(data, dict):
        # The status decides, not the body: a proxy in front of the API server answers in HTML.
        return error_type(status, "", text[:QUOTED_BODY] or "no body")
    details = data.get("details") or {}
    return error_type(
        status,
        data.get("reason", ""),
        data.get("message") or text[:QUOTED_BODY],
        details.get("name", "") if isinstance(details, dict) else "",
    )


@dataclass(frozen=True)
class ResourceKind:
    """Where a kind lives in the REST API."""

    api_version: str
    plural: str
    namespaced: bool = True

    def collection_path(self, namespace: str | None) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"

    def object_path(self, namespace: str | None, name: str) -> str:
        return f"{self.collection_path(namespace)}/{name}"


def kubeconfig_contexts(files: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The contexts kubeconfig files define, and the active one."""
    try:
        return config.list_kube_config_contexts(config_file=files)
    except (config.ConfigException, OSError, ValueError) as error:
        raise ConfigurationError(str(error)) from None


class Connection:
    """One API server: its configuration, a pooled HTTP client, a timeout (thread-safe)."""

    def __init__(
        self, api_client: client.ApiClient, timeout: tuple[float, float] = DEFAULT_TIMEOUT
    ) -> None:
        self.api_client = api_client
        self.timeout = timeout

    @classmethod
    def in_cluster(cls, pool_size: int | None = None) -> Connection:
        """From the pod's service account; ConfigurationError outside a pod."""
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException as error:
            raise ConfigurationError(str(error)) from None
        return cls._from(configuration, pool_size)

    @classmethod
    def from_kubeconfig(
        cls, files: str | None, context: str | None = None, pool_size: int | None = None
    ) -> Connection:
        """From kubeconfig files (os.pathsep-separated; None: $KUBECONFIG, ~/.kube/config)."""
        configuration = client.Configuration()
        try:
            # Passed explicitly: the library reads $KUBECONFIG only when it is imported.
            config.load_kube_config(
                config_file=files, context=context, client_configuration=configuration
            )
        except (config.ConfigException, OSError, ValueError) as error:
            raise ConfigurationError(str(error)) from None
        return cls._from(configuration, pool_size)

    @classmethod
    def _from(cls, configuration: client.Configuration, pool_size: int | None) -> Connection:
        if pool_size is not None:
            configuration.connection_pool_maxsize = pool_size
        return cls(client.ApiClient(configuration))

    @property
    def server(self) -> str:
        return self.api_client.configuration.host

    def send(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: tuple[float, float] | float | None = None,
    ) -> tuple[int, bytes]:
        """One request; the status and the raw body. Raises Unreachable when nothing answers."""
        # The generated client's serializer and pool: auth, TLS and proxies as kubectl's.
        method_, url, headers, body_, _ = self.api_client.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api_client.call_api(
                method_,
                url,
                header_params=headers,
                body=body_,
                _request_timeout=timeout if timeout is not None else self.timeout,
            )
            return response.status, response.read()
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise Unreachable(0, type(error).__name__, f"{method} {path}: {error}") from error

    def call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: tuple[float, float] | float | None = None,
    ) -> Any:
        """One request; the decoded JSON answer (None when empty), or a typed KubeError."""
        status, raw = self.send(
            method, path, query=query, body=body, content_type=content_type, timeout=timeout
        )
        if status >= 400:
            raise error_from_answer(status, raw)
        if not raw:
            return None
        data = _json_or_none(raw)
        if data is None:
            raise ServerError(status, "NotJSON", f"{path} did not answer JSON: {raw[:200]!r}")
        return data

    def core_v1(self) -> client.CoreV1Api:
        """The generated API, for the streaming calls (exec, port-forward) only it offers."""
        return client.CoreV1Api(self.api_client)
