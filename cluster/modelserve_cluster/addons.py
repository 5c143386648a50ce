"""The add-ons the e2e tier installs on kind, from the shared Go build (cluster/binaries).

kind's node image, as built here, has no metrics-server (HorizontalPodAutoscalers need
it) and a network plugin that enforces no NetworkPolicies (hack/kind/podnet stands in for
kindnetd, whose source the Go module proxy does not serve). The tier runs both as pods:
metrics-server, and our NetworkPolicy agent (kube-network-policies' design, built in
cluster/binaries). No registry is reachable, so each is a FROM-scratch image of one static
binary, written here and loaded with `kind load image-archive`.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

Manifest = dict[str, Any]

METRICS_SERVER_IMAGE = "docker.io/modelserve/node-metrics-server:r1"
# Upstream's own port: the pod has a network namespace of its own.
METRICS_SERVER_PORT = 10250
# The netfilter queue on which the NetworkPolicy agent judges new pod connections.
NETPOL_QUEUE = 100
NETPOL_AGENT_PORT = 20260

_SYSTEM = "kube-system"
_NOBODY = "65534:65534"
_NOBODY_CONTEXT = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "runAsGroup": 65534,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def metrics_server() -> list[Manifest]:
    """metrics-server registered as `v1beta1.metrics.k8s.io` through the aggregation layer.

    kind ships without it; kind users install it with `--kubelet-insecure-tls`, as here
    (kind's kubelets serve self-signed certificates).
    """
    labels = {"k8s-app": "metrics-server"}
    rbac = "rbac.authorization.k8s.io"
    container = {
        "name": "metrics-server",
        "image": METRICS_SERVER_IMAGE,
        "imagePullPolicy": "Never",
        "args": [
            f"--secure-port={METRICS_SERVER_PORT}",
            "--cert-dir=/tmp",
            "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-use-node-status-port",
            "--metric-resolution=15s",
            "--kubelet-insecure-tls",
        ],
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {
            "httpGet": {
                "path": "/readyz",
                "port": METRICS_SERVER_PORT,
                "scheme": "HTTPS",
            },
            "periodSeconds": 5,
        },
        "securityContext": _NOBODY_CONTEXT,
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "metrics-server", "namespace": _SYSTEM},
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": "system:aggregated-metrics-reader",
                "labels": {
                    "rbac.authorization.k8s.io/aggregate-to-view": "true",
                    "rbac.authorization.k8s.io/aggregate-to-edit": "true",
                    "rbac.authorization.k8s.io/aggregate-to-admin": "true",
                },
            },
            "rules": [
                {
                    "apiGroups": ["metrics.k8s.io"],
                    "resources": ["pods", "nodes"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:metrics-server"},
            "rules": [
                {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                {
                    "apiGroups": [""],
                    "resources": ["pods", "nodes"],
                    "verbs": ["get", "list", "watch"],
                },
            ],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:metrics-server"},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "system:metrics-server"},
            "subjects": [
                {"kind": "ServiceAccount", "name": "metrics-server", "namespace": _SYSTEM}
            ],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "metrics-server:system:auth-delegator"},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "system:auth-delegator"},
            "subjects": [
                {"kind": "ServiceAccount", "name": "metrics-server", "namespace": _SYSTEM}
            ],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "metrics-server-auth-reader", "namespace": _SYSTEM},
            "roleRef": {
                "apiGroup": rbac,
                "kind": "Role",
                "name": "extension-apiserver-authentication-reader",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "metrics-server", "namespace": _SYSTEM}
            ],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "metrics-server", "namespace": _SYSTEM, "labels": labels},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "metrics-server",
                        "priorityClassName": "system-cluster-critical",
                        "containers": [container],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "metrics-server", "namespace": _SYSTEM, "labels": labels},
            "spec": {
                "selector": labels,
                "ports": [
                    {
                        "name": "https",
                        "port": 443,
                        "protocol": "TCP",
                        "targetPort": METRICS_SERVER_PORT,
                    }
                ],
            },
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": labels},
            "spec": {
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "service": {"name": "metrics-server", "namespace": _SYSTEM, "port": 443},
                # metrics-server serves a certificate it makes itself at start-up.
                "insecureSkipTLSVerify": True,
            },
        },
    ]


NETPOL_AGENT_USER = "system:modelserve:netpol-agent"


def netpol_agent_rbac() -> list[Manifest]:
    """What the NetworkPolicy agent reads (pods, namespaces, policies) and the Events it writes."""
    name = "modelserve:netpol-agent"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["networking.k8s.io"],
                    "resources": ["networkpolicies"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["", "events.k8s.io"],
                    "resources": ["events"],
                    "verbs": ["create", "patch", "update"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": NETPOL_AGENT_USER}
            ],
        },
    ]


def policy_queue_rules(pod_cidr: str) -> list[list[str]]:
    """Send the first packet of each pod connection to the NetworkPolicy agent's queue.

    kube-network-policies queues with nftables' `queue` statement, which kernels built
    without CONFIG_NFT_QUEUE (ours) refuse; iptables' NFQUEUE target reaches the same
    queue. POSTROUTING, after kube-proxy's DNAT: a call to a Service is judged against
    the pod it was sent to. Traffic of root-owned host sockets (the kubelet's probes, the
    API server's proxy) is let through unjudged, as kube-network-policies does; a packet
    without a socket (forwarded from a pod) is judged. `--queue-bypass`: while no agent
    listens, packets pass instead of being dropped.
    """
    tag = ["-m", "comment", "--comment", "modelserve-netpol"]
    judge = [
        *("-m", "conntrack", "--ctstate", "NEW"),
        *("-m", "owner", "!", "--uid-owner", "0"),
        *tag,
        *("-j", "NFQUEUE", "--queue-num", str(NETPOL_QUEUE), "--queue-bypass"),
    ]
    return [["POSTROUTING", "-s", pod_cidr, *judge], ["POSTROUTING", "-d", pod_cidr, *judge]]


def _tar_bytes(entries: list[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_single_binary_image(
    binary: Path, image: str, out: Path, entrypoint: list[str] | None = None
) -> Path:
    """A `docker save`-format archive of a FROM-scratch image holding one static binary.

    No base image can be pulled here, and a static Go binary needs nothing else, so the
    archive is assembled directly instead of asking a Docker engine for `FROM scratch`.
    """
    target = f"usr/local/bin/{binary.name}"
    layer = _tar_bytes(
        [
            (
                "etc/passwd",
                b"root:x:0:0::/:/bin/false\nnobody:x:65534:65534::/:/bin/false\n",
                0o644,
            ),
            ("etc/group", b"root:x:0:\nnobody:x:65534:\n", 0o644),
            (target, binary.read_bytes(), 0o755),
        ]
    )
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint or [f"/{target}"], "User": _NOBODY},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": f"modelserve: single binary {binary.name}"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [image], "Layers": ["layer.tar"]}]
    out.write_bytes(
        _tar_bytes(
            [
                ("layer.tar", layer, 0o644),
                (config_name, config_bytes, 0o644),
                ("manifest.json", json.dumps(manifest).encode(), 0o644),
            ]
        )
    )
    return out
