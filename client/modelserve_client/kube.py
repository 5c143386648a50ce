"""The client's connection to the API server: kubeconfig, REST calls and errors users can act on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modelserve_api import constants as c
from modelserve_api.kube import (
    ConfigurationError,
    Connection,
    Forbidden,
    Invalid,
    KubeError,
    NotFound,
    Unauthorized,
    Unreachable,
    error_from_answer,
    kubeconfig_contexts,
)

from .errors import ModelserveError

IN_CLUSTER_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# (connect, read) seconds: a hung API server fails a call instead of hanging the CLI.
REQUEST_TIMEOUT = (10.0, 60.0)
FIELD_MANAGER = "modelserve-cli"


def core_path(namespace: str, plural: str, name: str = "") -> str:
    """REST path of a core/v1 namespaced collection, or of one object in it."""
    path = f"/api/v1/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def modelserve_path(namespace: str, plural: str, name: str = "") -> str:
    """REST path of a modelserve.io collection, or of one object in it."""
    path = f"/apis/{c.API_VERSION}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def api_error(error: KubeError, what: str) -> ModelserveError:
    """Turn an API server refusal into what went wrong and what to do; `what` is the action."""
    if isinstance(error, Unauthorized):
        return ModelserveError(
            f"the API server did not accept your credentials (trying to {what})",
            "refresh the credentials in your kubeconfig or pick another --context",
        )
    if isinstance(error, Forbidden):
        return ModelserveError(
            f"you are not allowed to {what}: {error.message}",
            "ask a cluster administrator for that permission, or use another --context",
        )
    if isinstance(error, NotFound) and not error.name:
        # A 404 without an object name: the resource type itself is unknown.
        return ModelserveError(
            f"the API server does not serve what is needed to {what} ({error.message}); "
            "are the modelserve CRDs installed?",
            "apply crds/ (kubectl apply --server-side -f crds/) or install the Helm chart",
        )
    if isinstance(error, Invalid):
        return ModelserveError(f"the API server refused to {what}: {error.message}")
    return ModelserveError(f"could not {what}: HTTP {error.status}: {error.message}")


class Kube:
    """The CLI's verbs over one shared Connection, JSON dictionaries in and out."""

    def __init__(self, connection: Connection, default_namespace: str) -> None:
        self.connection = connection
        self.default_namespace = default_namespace

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> Kube:
        """From --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the pod's account."""
        explicit = kubeconfig or os.environ.get("KUBECONFIG") or ""
        home_config = Path("~/.kube/config").expanduser()
        if not explicit and not home_config.exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
            if context:
                raise ModelserveError(
                    "--context needs a kubeconfig, and there is none",
                    "pass --kubeconfig PATH or set KUBECONFIG",
                )
            connection = Connection.in_cluster()
            namespace = IN_CLUSTER_NAMESPACE_FILE.read_text().strip() or "default"
            return cls(connection, namespace)
        files = explicit or str(home_config)
        if not any(Path(part).expanduser().is_file() for part in files.split(os.pathsep) if part):
            raise ModelserveError(
                f"no kubeconfig at {files}",
                "pass --kubeconfig PATH, set KUBECONFIG, or create ~/.kube/config",
            )
        namespace = _context_namespace(files, context)
        try:
            connection = Connection.from_kubeconfig(files, context)
        except ConfigurationError as error:
            raise ModelserveError(
                f"cannot use the kubeconfig {files}: {error}",
                "fix the file or pass another --kubeconfig/--context",
            ) from None
        return cls(connection, namespace)

    @property
    def server(self) -> str:
        return self.connection.server

    def core_v1(self) -> Any:
        """The generated CoreV1Api, for the streaming calls (exec, port-forward) it alone offers."""
        return self.connection.core_v1()

    def unreachable(self, error: Exception) -> ModelserveError:
        reason = getattr(error, "reason", None) or error
        return ModelserveError(
            f"cannot reach the Kubernetes API server at {self.server} ({reason})",
            "check that the cluster is running and that --kubeconfig/--context point to it",
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call; a typed KubeError on refusal, a ModelserveError when nothing answers."""
        try:
            return self.connection.call(method, path, timeout=REQUEST_TIMEOUT, **kwargs)
        except Unreachable as error:
            raise self.unreachable(error) from None

    def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """One call; its decoded JSON answer, or a ModelserveError saying what to do."""
        try:
            return self._call(method, path, query=query, body=body, content_type=content_type)
        except KubeError as error:
            raise api_error(error, what) from None

    def request_text(self, path: str, *, query: list[tuple[str, str]] | None = None) -> str:
        """A GET whose answer is text (pod logs); a refusal raises its typed KubeError."""
        try:
            status, raw = self.connection.send("GET", path, query=query, timeout=REQUEST_TIMEOUT)
        except Unreachable as error:
            raise self.unreachable(error) from None
        if status >= 400:
            raise error_from_answer(status, raw)
        return raw.decode(errors="replace")

    def get(self, path: str, what: str) -> dict[str, Any] | None:
        """The object at `path`, or None when it does not exist."""
        try:
            return self._call("GET", path)
        except NotFound as error:
            if error.name:
                return None
            raise api_error(error, what) from None
        except KubeError as error:
            raise api_error(error, what) from None

    def list(self, path: str, what: str, label_selector: str = "") -> list[dict[str, Any]]:
        query = [("labelSelector", label_selector)] if label_selector else []
        return (self.call("GET", path, what, query=query) or {}).get("items", [])

    def create(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        return self.call("POST", path, what, query=[("fieldManager", FIELD_MANAGER)], body=body)

    def replace(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        return self.call("PUT", path, what, query=[("fieldManager", FIELD_MANAGER)], body=body)

    def merge_patch(self, path: str, patch: dict[str, Any], what: str) -> dict[str, Any]:
        return self.call(
            "PATCH",
            path,
            what,
            query=[("fieldManager", FIELD_MANAGER)],
            body=patch,
            content_type="application/merge-patch+json",
        )

    def delete(self, path: str, what: str) -> None:
        """Delete now (no grace period); an object already gone is fine."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}
        try:
            self._call("DELETE", path, body=body)
        except NotFound:
            pass
        except KubeError as error:
            raise api_error(error, what) from None

    def require_namespace(self, namespace: str) -> None:
        """Fail clearly when `namespace` does not exist (a GET in it would only say 'not found')."""
        try:
            self._call("GET", f"/api/v1/namespaces/{namespace}")
        except NotFound:
            raise ModelserveError(
                f"namespace {namespace!r} does not exist",
                f"create it (kubectl create namespace {namespace}) or pass another --namespace",
            ) from None
        except Forbidden:
            pass  # many users may not read namespaces; the calls that follow will tell
        except KubeError as error:
            raise api_error(error, f"read namespace {namespace}") from None


def _context_namespace(files: str, context: str | None) -> str:
    """The namespace the chosen kubeconfig context names, else 'default'."""
    try:
        contexts, active = kubeconfig_contexts(files)
    except ConfigurationError as error:
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
