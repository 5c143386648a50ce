"""An OnlineEndpoint from outside the cluster: invoke it, summarise it, read its scoring logs."""

from __future__ import annotations

import base64
import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward
from modelserve_api import constants as c
from modelserve_api.kube import Invalid, KubeError, error_from_answer

from .errors import ModelserveError
from .kube import NamedResource, api_error, core_path, modelserve_path
from .summary import format_endpoint

# The router's headers and the keys Secret (builders/router.py, router_config.py); a unit
# test keeps these equal to the operator's.
PIN_HEADER = "x-modelserve-deployment"
SERVED_HEADER = "x-modelserve-deployment"
PRIMARY_KEY = "primaryKey"
SCORING_CONTAINER = "scoring"
DEFAULT_INVOKE_TIMEOUT_S = 60.0
# How long invoke waits for a router pod with the current configuration before using another.
ROUTER_ROLLOUT_WAIT_S = 30.0
# The router's 502 when it could not connect to a deployment (nginx.conf.j2's
# @modelserve_bad_gateway; a unit test keeps the two equal). It happens for a moment after a
# deployment turns Ready, until kube-proxy and the network policy agent route its Service.
UNREACHABLE_ANSWER = "could not be reached; retry later"
# How long invoke keeps retrying that answer, backing off from the first delay.
UNREACHABLE_RETRY_S = 15.0
UNREACHABLE_FIRST_DELAY_S = 0.25
UNREACHABLE_MAX_DELAY_S = 2.0


def keys_secret_name(endpoint: str) -> str:
    return f"{endpoint}-keys"


def scoring_pod_selector(endpoint: str, deployment: str | None = None) -> str:
    """Label selector of an endpoint's scoring pods (of one deployment, if given)."""
    parts = [
        f"{c.LABEL_COMPONENT}={c.COMPONENT_SCORING}",
        f"{c.LABEL_ENDPOINT}={endpoint}",
    ]
    if deployment:
        parts.append(f"{c.LABEL_DEPLOYMENT}={deployment}")
    return ",".join(parts)


def router_pod_selector(endpoint: str) -> str:
    return f"{c.LABEL_COMPONENT}={c.COMPONENT_ROUTER},{c.LABEL_ENDPOINT}={endpoint}"


def encode_request(data: Any) -> bytes:
    """A JSON request body: dicts and lists are serialised, str and bytes are sent as they are."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    return json.dumps(data).encode()


def pod_is_ready(pod: dict[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(item.get("type") == "Ready" and item.get("status") == "True" for item in conditions)


@dataclass(frozen=True)
class InvokeResult:
    """What the endpoint answered: HTTP status, the body, and the deployment that served it."""

    status: int
    body: bytes
    deployment: str | None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class Endpoint(NamedResource):
    """One OnlineEndpoint, by name, in a namespace (the kubeconfig's by default)."""

    plural = c.PLURAL_ONLINE_ENDPOINTS

    def get(self) -> dict[str, Any]:
        """The OnlineEndpoint object; a missing endpoint (or namespace) raises a clear error."""
        obj = self.connection.get(self.path, f"read OnlineEndpoint {self.name}")
        if obj is None:
            self.connection.require_namespace(self.namespace)
            others = self.connection.list(
                modelserve_path(self.namespace, c.PLURAL_ONLINE_ENDPOINTS),
                f"list OnlineEndpoints in namespace {self.namespace}",
            )
            names = ", ".join(sorted(o["metadata"]["name"] for o in others)) or "none"
            raise ModelserveError(
                f"OnlineEndpoint {self.name!r} does not exist in namespace {self.namespace!r} "
                f"(endpoints there: {names})",
                "check the name, or pass --namespace",
            )
        return obj

    def show(self) -> str:
        """A readable summary: conditions, traffic, deployments with versions and replicas."""
        return format_endpoint(self.get())

    def _check_deployment(self, obj: dict[str, Any], deployment: str | None) -> None:
        if deployment is None:
            return
        names = [d.get("name") for d in (obj.get("spec") or {}).get("deployments") or []]
        if deployment not in names:
            raise ModelserveError(
                f"endpoint {self.name!r} has no deployment {deployment!r} "
                f"(it has: {', '.join(names) or 'none'})",
                "pass one of those to --deployment",
            )

    def _key(self, obj: dict[str, Any]) -> str | None:
        if (obj.get("spec") or {}).get("authMode", "key") != "key":
            return None
        secret_name = keys_secret_name(self.name)
        secret = self.connection.get(
            core_path(self.namespace, "secrets", secret_name), f"read Secret {secret_name}"
        )
        encoded = ((secret or {}).get("data") or {}).get(PRIMARY_KEY)
        if not encoded:
            raise ModelserveError(
                f"the keys Secret {secret_name!r} of endpoint {self.name!r} is missing",
                f"the operator creates it; wait until `modelserve endpoint show {self.name}` "
                "says Ready",
            )
        return base64.b64decode(encoded).decode()

    def _router_pod(self, timeout: float) -> str:
        """A Ready router pod, preferring one that runs the current router configuration.

        Right after a change the endpoint's status can be Ready while the router still
        rolls out its new configuration; an old pod would answer with the old split.
        """
        deadline = time.monotonic() + min(timeout, ROUTER_ROLLOUT_WAIT_S)
        while True:
            router = self.connection.get(
                f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{self.name}",
                f"read the router Deployment {self.name}",
            )
            if router is None:
                raise ModelserveError(
                    f"endpoint {self.name!r} has no router yet",
                    f"is the operator running? `modelserve endpoint show {self.name}` says more",
                )
            template = (router.get("spec") or {}).get("template") or {}
            wanted = (
                (template.get("metadata") or {})
                .get("annotations", {})
                .get(c.ANNOTATION_ROUTER_CONFIG_HASH)
            )
            pods = self.connection.list(
                core_path(self.namespace, "pods"),
                f"list pods in namespace {self.namespace}",
                router_pod_selector(self.name),
            )
            ready = sorted(
                (p for p in pods if pod_is_ready(p)), key=lambda p: p["metadata"]["name"]
            )
            current = [p for p in ready if _config_hash(p) == wanted]
            if current or (ready and time.monotonic() > deadline):
                return (current or ready)[0]["metadata"]["name"]
            if not ready and time.monotonic() > deadline:
                raise ModelserveError(
                    f"endpoint {self.name!r} has no Ready router pod to send the request to",
                    f"see `modelserve endpoint show {self.name}` for what it waits for",
                )
            time.sleep(0.5)

    def invoke(
        self,
        data: Any,
        deployment: str | None = None,
        route: str = "/score",
        timeout: float = DEFAULT_INVOKE_TIMEOUT_S,
    ) -> InvokeResult:
        """POST `data` (JSON) to the endpoint's router with its key; HTTP errors raise.

        The request reaches a router pod through the API server's port-forward: its
        service proxy would drop the Authorization header that carries the endpoint key.
        `deployment` pins the request to one deployment instead of the traffic split.
        The router's 502 "could not be reached; retry later" (no answer from the deployment:
        a new pod's Service not routed yet) is retried with backoff for up to 15 s.
        """
        obj = self.get()
        self._check_deployment(obj, deployment)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self._key(obj)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if deployment:
            headers[PIN_HEADER] = deployment
        pod = self._router_pod(timeout)
        route = route if route.startswith("/") else f"/{route}"
        body = encode_request(data)
        result = self._post(pod, route, body, headers, timeout)
        # The router's "could not be reached": it got no answer from the deployment (a fresh
        # pod's Service not routed yet). Predictions have no side effects, as the router's own
        # one retry assumes (nginx.conf.j2): send it again, for a while.
        deadline = time.monotonic() + min(UNREACHABLE_RETRY_S, timeout)
        delay = UNREACHABLE_FIRST_DELAY_S
        while _unreachable(result) and time.monotonic() + delay < deadline:
            time.sleep(delay)
            delay = min(delay * 2, UNREACHABLE_MAX_DELAY_S)
            result = self._post(pod, route, body, headers, timeout)
        if result.status >= 400:
            raise ModelserveError(
                f"endpoint {self.name!r} answered HTTP {result.status}"
                + (f" from deployment {result.deployment}" if result.deployment else "")
                + f": {result.text.strip()[:2000]}"
            )
        return result

    def _post(
        self, pod: str, route: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> InvokeResult:
        try:
            forward = portforward(
                self.connection.core_v1().connect_get_namespaced_pod_portforward,
                pod,
                self.namespace,
                ports=str(c.ROUTER_PORT),
            )
        except ApiException as error:
            raise api_error(
                error_from_answer(error.status, error.body), f"port-forward to pod {pod}"
            ) from None
        connection = http.client.HTTPConnection(self.name, c.ROUTER_PORT, timeout=timeout)
        try:
            sock = forward.socket(c.ROUTER_PORT)
            sock.settimeout(timeout)
            connection.sock = sock
            connection.request("POST", route, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            return InvokeResult(response.status, payload, response.getheader(SERVED_HEADER))
        except (OSError, http.client.HTTPException) as error:
            why = forward.error(c.ROUTER_PORT) or error
            raise ModelserveError(
                f"no answer from router pod {pod} of endpoint {self.name!r}: {why}",
                "retry; if it persists see `modelserve endpoint show` and the router's logs",
            ) from None
        finally:
            connection.close()
            forward.close()

    def logs(
        self,
        deployment: str | None = None,
        tail: int | None = 100,
        previous: bool = False,
        container: str = SCORING_CONTAINER,
    ) -> str:
        """The scoring pods' logs, each pod's under a header naming pod and deployment."""
        obj = self.get()
        self._check_deployment(obj, deployment)
        pods = self.connection.list(
            core_path(self.namespace, "pods"),
            f"list pods in namespace {self.namespace}",
            scoring_pod_selector(self.name, deployment),
        )
        if not pods:
            which = f"deployment {deployment!r} of " if deployment else ""
            raise ModelserveError(
                f"{which}endpoint {self.name!r} has no scoring pods",
                f"see `modelserve endpoint show {self.name}` for its state",
            )
        pods.sort(key=lambda p: (_deployment_of(p), p["metadata"]["name"]))
        sections = []
        for pod in pods:
            name = pod["metadata"]["name"]
            sections.append(f"==> pod {name} (deployment {_deployment_of(pod)}) <==")
            sections.append(self._pod_log(name, container, tail, previous).rstrip("\n"))
        return "\n".join(sections) + "\n"

    def _pod_log(self, pod: str, container: str, tail: int | None, previous: bool) -> str:
        query = [("container", container)]
        if tail is not None:
            query.append(("tailLines", str(tail)))
        if previous:
            query.append(("previous", "true"))
        try:
            text = self.connection.request_text(
                core_path(self.namespace, "pods", pod) + "/log", query=query
            )
        except Invalid as error:
            # The container has not started (or has no previous run): say so, keep going.
            return f"(no logs: {error.message})"
        except KubeError as error:
            raise api_error(error, f"read the logs of pod {pod}") from None
        return text or "(no log lines yet)"


def _unreachable(result: InvokeResult) -> bool:
    """The router's own answer that it could not connect to the deployment."""
    if result.status != 502:
        return False
    try:
        error = result.json().get("error", "")
    except (ValueError, AttributeError):
        return False
    return isinstance(error, str) and error.endswith(UNREACHABLE_ANSWER)


def _config_hash(pod: dict[str, Any]) -> str | None:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return annotations.get(c.ANNOTATION_ROUTER_CONFIG_HASH)


def _deployment_of(pod: dict[str, Any]) -> str:
    return (pod["metadata"].get("labels") or {}).get(c.LABEL_DEPLOYMENT, "?")
