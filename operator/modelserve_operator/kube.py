"""The one module that talks to the Kubernetes API server: apply, read, delete, status, events."""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from typing import Any

from modelserve_api.kube import (
    ConfigurationError,
    Conflict,
    Connection,
    KubeError,
    NotFound,
    ResourceKind,
)

__all__ = ["Kube", "KubeError", "NotLeader", "default_client", "kind_of"]

FIELD_MANAGER = "modelserve-operator"
# (connect, read) seconds for every call but the watches (Kopf's own): an API server that
# stops answering fails a reconcile, which the work queue retries, instead of holding a
# worker thread for good.
REQUEST_TIMEOUT = (5.0, 60.0)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Kopf runs sync handlers on a thread pool: give each thread a pooled connection.
CONNECTION_POOL = 32
# Seconds this process may still write (None: no leader election); see leadership.py.
Fence = Callable[[], float | None]


class NotLeader(Exception):
    """A write was refused before it was sent: this process no longer holds the lease."""


# Every kind the operator reads or writes. A fixed table instead of discovery: the
# operator starts faster and an unexpected kind is a programming error, not a lookup.
KINDS: dict[tuple[str, str], ResourceKind] = {
    ("v1", "ConfigMap"): ResourceKind("v1", "configmaps"),
    ("v1", "Secret"): ResourceKind("v1", "secrets"),
    ("v1", "Service"): ResourceKind("v1", "services"),
    ("v1", "Pod"): ResourceKind("v1", "pods"),
    ("v1", "PersistentVolumeClaim"): ResourceKind("v1", "persistentvolumeclaims"),
    ("v1", "Event"): ResourceKind("v1", "events"),
    ("apps/v1", "Deployment"): ResourceKind("apps/v1", "deployments"),
    ("apps/v1", "ReplicaSet"): ResourceKind("apps/v1", "replicasets"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ResourceKind(
        "autoscaling/v2", "horizontalpodautoscalers"
    ),
    ("policy/v1", "PodDisruptionBudget"): ResourceKind("policy/v1", "poddisruptionbudgets"),
    ("batch/v1", "Job"): ResourceKind("batch/v1", "jobs"),
    ("networking.k8s.io/v1", "NetworkPolicy"): ResourceKind(
        "networking.k8s.io/v1", "networkpolicies"
    ),
    ("batch/v1", "CronJob"): ResourceKind("batch/v1", "cronjobs"),
    ("coordination.k8s.io/v1", "Lease"): ResourceKind("coordination.k8s.io/v1", "leases"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ResourceKind(
        "monitoring.coreos.com/v1", "servicemonitors"
    ),
    ("modelserve.io/v1alpha1", "Model"): ResourceKind("modelserve.io/v1alpha1", "models"),
    ("modelserve.io/v1alpha1", "OnlineEndpoint"): ResourceKind(
        "modelserve.io/v1alpha1", "onlineendpoints"
    ),
    ("modelserve.io/v1alpha1", "BatchDeployment"): ResourceKind(
        "modelserve.io/v1alpha1", "batchdeployments"
    ),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ResourceKind(
        "apiextensions.k8s.io/v1", "customresourcedefinitions", namespaced=False
    ),
}


def kind_of(api_version: str, kind: str) -> ResourceKind:
    try:
        return KINDS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"modelserve does not manage {kind} ({api_version})") from None


_default_client: Kube | None = None
_default_lock = threading.Lock()


def default_client() -> Kube:
    """The process-wide client, configured from the pod's service account or a kubeconfig."""
    global _default_client
    with _default_lock:
        if _default_client is None:
            _default_client = Kube.from_environment()
        return _default_client


class Kube:
    """A thin, synchronous REST client for the kinds in KINDS (safe to share between threads)."""

    def __init__(
        self,
        connection: Connection,
        timeout: tuple[float, float] = REQUEST_TIMEOUT,
        fence: Fence | None = None,
    ) -> None:
        self._connection = connection
        self._timeout = timeout
        self._fence = fence

    @classmethod
    def from_environment(cls, kubeconfig: str | None = None, fence: Fence | None = None) -> Kube:
        try:
            connection = Connection.in_cluster(pool_size=CONNECTION_POOL)
        except ConfigurationError:
            connection = Connection.from_kubeconfig(
                kubeconfig or os.environ.get("KUBECONFIG"), pool_size=CONNECTION_POOL
            )
        return cls(connection, fence=fence)

    def unfenced(self, timeout: tuple[float, float]) -> Kube:
        """The same connections without the write fence, with other timeouts (the election's)."""
        return Kube(self._connection, timeout=timeout)

    def _write_timeout(self, method: str, path: str) -> tuple[float, float]:
        """The timeout of a request; a write is refused once the lease may have ended."""
        left = self._fence() if self._fence is not None else None
        if left is None:
            return self._timeout
        if left <= 0:
            raise NotLeader(f"{method} {path} not sent: this operator no longer holds the lease")
        # A write still on its way when leadership ends could land after a standby took
        # over: bound it by the time left, so it is given up (and the process exits) first.
        return (min(self._timeout[0], left), min(self._timeout[1], left))

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any] | None:
        """One call; None when the object (or its namespace) does not exist."""
        timeout = self._write_timeout(method, path) if method in WRITE_METHODS else self._timeout
        try:
            return self._connection.call(
                method, path, query=query, body=body, content_type=content_type, timeout=timeout
            )
        except NotFound:
            return None

    def apply(self, manifest: dict[str, Any], *, force: bool = True) -> dict[str, Any]:
        """Server-side apply as the operator's field manager; returns the live object."""
        kind = kind_of(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        path = f"{kind.collection_path(meta.get('namespace'))}/{meta['name']}"
        query = [("fieldManager", FIELD_MANAGER)]
        if force:
            # We own these children outright: a hand edit of a field we set is put back.
            query.append(("force", "true"))
        result = self._request(
            "PATCH", path, query=query, body=manifest, content_type="application/apply-patch+yaml"
        )
        if result is None:  # the namespace vanished under us
            raise NotFound(404, "NotFound", f"cannot apply {kind.plural}/{meta['name']}")
        return result

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict | None:
        """The live object, or None when it does not exist."""
        resource = kind_of(api_version, kind)
        return self._request("GET", f"{resource.collection_path(namespace)}/{name}")

    def list(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        resource = kind_of(api_version, kind)
        query = [("labelSelector", label_selector)] if label_selector else []
        data = self._request("GET", resource.collection_path(namespace), query=query)
        return (data or {}).get("items", [])

    def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """Create; returns None if it already exists (the caller reads the existing one)."""
        kind = kind_of(manifest["apiVersion"], manifest["kind"])
        try:
            return self._request(
                "POST",
                kind.collection_path(manifest["metadata"].get("namespace")),
                query=[("fieldManager", FIELD_MANAGER)],
                body=manifest,
            )
        except Conflict:
            return None

    def replace(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """PUT the whole object; 409 when metadata.resourceVersion is no longer current."""
        kind = kind_of(manifest["apiVersion"], manifest["kind"])
        meta = manifest["metadata"]
        return self._request(
            "PUT",
            f"{kind.collection_path(meta.get('namespace'))}/{meta['name']}",
            query=[("fieldManager", FIELD_MANAGER)],
            body=manifest,
        )

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        """Delete with background propagation; False when it was already gone."""
        resource = kind_of(api_version, kind)
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        result = self._request("DELETE", f"{resource.collection_path(namespace)}/{name}", body=body)
        return result is not None

    def patch_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Merge-patch the status subresource; None when the object is gone."""
        resource = kind_of(api_version, kind)
        return self._request(
            "PATCH",
            f"{resource.collection_path(namespace)}/{name}/status",
            body={"status": status},
            content_type="application/merge-patch+json",
        )

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: dict,
        *,
        field_manager: str | None = None,
    ) -> dict[str, Any] | None:
        """Merge-patch an object (metadata such as annotations, or a spec the operator steps).

        A patch carrying metadata.resourceVersion fails with 409 if the object changed.
        """
        resource = kind_of(api_version, kind)
        query = [("fieldManager", field_manager)] if field_manager else None
        return self._request(
            "PATCH",
            f"{resource.collection_path(namespace)}/{name}",
            query=query,
            body=patch,
            content_type="application/merge-patch+json",
        )

    def pod_proxy_get(
        self, namespace: str, pod: str, port: int, path: str, timeout_s: float = 5.0
    ) -> dict[str, Any]:
        """GET a JSON document from a pod's port through the API server's pod proxy."""
        url_path = f"/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy/{path.lstrip('/')}"
        # A 404 here is the pod's answer (or a missing pod), not an absent object: it raises.
        return self._connection.call("GET", url_path, timeout=timeout_s)

    def service_proxy_get(
        self, namespace: str, service: str, port: int, path: str, timeout_s: float = 5.0
    ) -> dict[str, Any]:
        """GET a JSON document from a Service's port through the API server's service proxy."""
        url_path = (
            f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/{path.lstrip('/')}"
        )
        return self._connection.call("GET", url_path, timeout=timeout_s)

    def emit_event(
        self,
        involved: dict[str, Any],
        *,
        reason: str,
        message: str,
        event_type: str = "Normal",
    ) -> None:
        """Record a core/v1 Event on an object, as `kubectl describe` shows them."""
        meta = involved["metadata"]
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved["apiVersion"],
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": event_type,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "source": {"component": FIELD_MANAGER},
        }
        self.create(event)
