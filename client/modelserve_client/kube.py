"""The client's connection to the API server: kubeconfig, REST calls and errors users can act on."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from modelserve_api import constants as c

from .errors import ModelserveError

IN_CLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# (connect, read) seconds: a hung API server fails a call instead of hanging the CLI.
REQUEST_TIMEOUT = (10, 60)
FIELD_MANAGER = "modelserve-cli"


def core_path(namespace: str, plural: str, name: str = "") -> str:
    """REST path of a core/v1 namespaced collection, or of one object in it."""
    path = f"/api/v1/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def modelserve_path(namespace: str, plural: str, name: str = "") -> str:
    """REST path of a modelserve.io collection, or of one object in it."""
    path = f"/apis/{c.API_VERSION}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def api_error(status: int, data: Any, what: str) -> ModelserveError:
    """Turn an API server refusal into what went wrong and what to do; `what` is the action."""
    body = data if isinstance(data, dict) else {}
    message = body.get("message") or (str(data)[:500] if data else f"HTTP {status}")
    if status == 401:
        return ModelserveError(
            f"the API server did not accept your credentials (trying to {what})",
            "refresh the credentials in your kubeconfig or pick another --context",
        )
    if status == 403:
        return ModelserveError(
            f"you are not allowed to {what}: {message}",
            "ask a cluster administrator for that permission, or use another --context",
        )
    if status == 404 and not (body.get("details") or {}).get("name"):
        # A 404 without an object name: the resource type itself is unknown.
        return ModelserveError(
            f"the API server does not serve what is needed to {what} ({message}); "
            "are the modelserve CRDs installed?",
            "apply crds/ (kubectl apply --server-side -f crds/) or install the Helm chart",
        )
    if status in (400, 422):
        return ModelserveError(f"the API server refused to {what}: {message}")
    return ModelserveError(f"could not {what}: HTTP {status}: {message}")


class Kube:
    """A small REST client over one ApiClient, JSON dictionaries in and out."""

    def __init__(self, api_client: client.ApiClient, default_namespace: str) -> None:
        self.api_client = api_client
        self.default_namespace = default_namespace

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> Kube:
        """From --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the pod's account."""
        configuration = client.Configuration()
        explicit = kubeconfig or os.environ.get("KUBECONFIG") or ""
        home_config = Path("~/.kube/config").expanduser()
        if not explicit and not home_config.exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
            if context:
                raise ModelserveError(
                    "--context needs a kubeconfig, and there is none",
                    "pass --kubeconfig PATH or set KUBECONFIG",
                )
            config.load_incluster_config(client_configuration=configuration)
            namespace = IN_CLUSTER_NAMESPACE_FILE.read_text().strip() or "default"
            return cls(client.ApiClient(configuration), namespace)
        files = explicit or str(home_config)
        if not any(Path(part).expanduser().is_file() for part in files.split(os.pathsep) if part):
            raise ModelserveError(
                f"no kubeconfig at {files}",
                "pass --kubeconfig PATH, set KUBECONFIG, or create ~/.kube/config",
            )
        namespace = _context_namespace(files, context)
        try:
            # The file is passed explicitly: the library reads $KUBECONFIG only at import time.
            config.load_kube_config(
                config_file=files, context=context, client_configuration=configuration
            )
        except (config.ConfigException, OSError, ValueError) as error:
            raise ModelserveError(
                f"cannot use the kubeconfig {files}: {error}",
                "fix the file or pass another --kubeconfig/--context",
            ) from None
        return cls(client.ApiClient(configuration), namespace)

    @property
    def server(self) -> str:
        return self.api_client.configuration.host

    def core_v1(self) -> client.CoreV1Api:
        """The generated API, for the streaming calls (exec, port-forward) it alone offers."""
        return client.CoreV1Api(self.api_client)

    def unreachable(self, error: Exception) -> ModelserveError:
        reason = getattr(error, "reason", None) or error
        return ModelserveError(
            f"cannot reach the Kubernetes API server at {self.server} ({reason})",
            "check that the cluster is running and that --kubeconfig/--context point to it",
        )

    def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None,
        body: Any,
        content_type: str,
    ) -> tuple[int, bytes]:
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
                method_, url, header_params=headers, body=body_, _request_timeout=REQUEST_TIMEOUT
            )
            return response.status, response.read()
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise self.unreachable(error) from None

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """One call; the HTTP status and the decoded JSON body (never raises on 4xx/5xx)."""
        status, raw = self._send(method, path, query, body, content_type)
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode(errors="replace")
        return status, data

    def request_text(
        self, method: str, path: str, *, query: list[tuple[str, str]] | None = None
    ) -> tuple[int, str]:
        """One call whose answer is text (pod logs); the HTTP status and the text."""
        status, raw = self._send(method, path, query, None, "application/json")
        return status, raw.decode(errors="replace")

    def get(self, path: str, what: str) -> dict[str, Any] | None:
        """The object at `path`, or None when it does not exist."""
        status, data = self.request("GET", path)
        named = isinstance(data, dict) and (data.get("details") or {}).get("name")
        if status == 404 and named:
            return None
        if status >= 400:
            raise api_error(status, data, what)
        return data

    def list(self, path: str, what: str, label_selector: str = "") -> list[dict[str, Any]]:
        query = [("labelSelector", label_selector)] if label_selector else []
        status, data = self.request("GET", path, query=query)
        if status >= 400:
            raise api_error(status, data, what)
        return (data or {}).get("items", [])

    def create(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        status, data = self.request(
            "POST", path, query=[("fieldManager", FIELD_MANAGER)], body=body
        )
        if status >= 400:
            raise api_error(status, data, what)
        return data

    def replace(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        status, data = self.request("PUT", path, query=[("fieldManager", FIELD_MANAGER)], body=body)
        if status >= 400:
            raise api_error(status, data, what)
        return data

    def merge_patch(self, path: str, patch: dict[str, Any], what: str) -> dict[str, Any]:
        status, data = self.request(
            "PATCH",
            path,
            query=[("fieldManager", FIELD_MANAGER)],
            body=patch,
            content_type="application/merge-patch+json",
        )
        if status >= 400:
            raise api_error(status, data, what)
        return data

    def delete(self, path: str, what: str) -> None:
        """Delete now (no grace period); an object already gone is fine."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}
        status, data = self.request("DELETE", path, body=body)
        if status >= 400 and status != 404:
            raise api_error(status, data, what)

    def require_namespace(self, namespace: str) -> None:
        """Fail clearly when `namespace` does not exist (a GET in it would only say 'not found')."""
        status, data = self.request("GET", f"/api/v1/namespaces/{namespace}")
        if status == 404:
            raise ModelserveError(
                f"namespace {namespace!r} does not exist",
                f"create it (kubectl create namespace {namespace}) or pass another --namespace",
            )
        # 403: many users may not read namespaces; the calls that follow will tell.
        if status >= 400 and status != 403:
            raise api_error(status, data, f"read namespace {namespace}")


def _context_namespace(files: str, context: str | None) -> str:
    """The namespace the chosen kubeconfig context names, else 'default'."""
    try:
        contexts, active = config.list_kube_config_contexts(config_file=files)
    except (config.ConfigException, OSError, ValueError) as error:
        raise ModelserveError(
            f"cannot read the kubeconfig {files}: {error}", "pass another --kubeconfig"
        ) from None
    if context is not None:
        chosen = next((item for item in contexts if item.get("name") == context), None)
        if chosen is None:
            known = ", ".join(sorted(item.get("name", "?") for item in contexts)) or "none"
            raise ModelserveError(
                f"the kubeconfig {files} has no context {context!r} (it has: {known})",
                "pass one of those to --context",
            )
    else:
        chosen = active
    return ((chosen or {}).get("context") or {}).get("namespace") or "default"


class NamedResource:
    """One modelserve custom resource of kind `plural`, by name, in a namespace.

    The namespace defaults to the kubeconfig's, as kubectl's does.
    """

    plural: str

    def __init__(
        self, name: str, namespace: str | None = None, connection: Kube | None = None
    ) -> None:
        self.name = name
        self.connection = connection or Kube.connect()
        self.namespace = namespace or self.connection.default_namespace

    @property
    def path(self) -> str:
        return modelserve_path(self.namespace, self.plural, self.name)
