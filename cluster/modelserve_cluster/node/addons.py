"""Cluster add-ons the node runs as pods: CoreDNS (Service names) and metrics-server (HPA CPU)."""

from __future__ import annotations

from typing import Any

from modelserve_cluster.node import layout as L

Manifest = dict[str, Any]

_SYSTEM = "kube-system"
_NOBODY_CONTEXT = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "runAsGroup": 65534,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def node_rbac() -> list[Manifest]:
    """Let the node's kubelet act as a node even where the API server has no Node authorizer."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "modelserve:node"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:node",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}
            ],
        }
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


def _api_env(apiserver_host: str, apiserver_port: int) -> list[dict[str, str]]:
    # Host-network pods reach the API server where it listens (loopback), not via a ClusterIP.
    return [
        {"name": "KUBERNETES_SERVICE_HOST", "value": apiserver_host},
        {"name": "KUBERNETES_SERVICE_PORT", "value": str(apiserver_port)},
    ]


def _host_network_pod_spec(
    service_account: str, container: Manifest, volumes: list[Manifest] | None = None
) -> Manifest:
    return {
        "serviceAccountName": service_account,
        # Host network: the add-on reaches the loopback API server and needs no pod network
        # to come up first; it listens on the node address only.
        "hostNetwork": True,
        "dnsPolicy": "Default",
        "nodeSelector": {"kubernetes.io/hostname": L.NODE_NAME},
        "priorityClassName": "system-cluster-critical",
        "containers": [container],
        "volumes": volumes or [],
    }


def corefile() -> str:
    """Answers for cluster.local and reverse zones; no forwarder, since no upstream answers."""
    return f""".:{L.COREDNS_PORT} {{
    errors
    health {L.NODE_IP}:{L.COREDNS_HEALTH_PORT}
    ready {L.NODE_IP}:{L.COREDNS_READY_PORT}
    kubernetes {L.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
    loadbalance
    reload
}}
"""


def coredns(dns_ip: str, apiserver_host: str, apiserver_port: int) -> list[Manifest]:
    """CoreDNS behind the `kube-dns` Service at the kubelet's clusterDNS address."""
    labels = {"k8s-app": "kube-dns"}
    container = {
        "name": "coredns",
        "image": L.COREDNS_IMAGE,
        "imagePullPolicy": "Never",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "env": _api_env(apiserver_host, apiserver_port),
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "readinessProbe": {
            "httpGet": {"host": L.NODE_IP, "path": "/ready", "port": L.COREDNS_READY_PORT},
            "periodSeconds": 2,
        },
        "livenessProbe": {
            "httpGet": {"host": L.NODE_IP, "path": "/health", "port": L.COREDNS_HEALTH_PORT},
            "periodSeconds": 10,
            "failureThreshold": 5,
        },
        "securityContext": _NOBODY_CONTEXT,
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "coredns", "namespace": _SYSTEM},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "modelserve:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "modelserve:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "modelserve:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": _SYSTEM}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": _SYSTEM},
            "data": {"Corefile": corefile()},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": _SYSTEM, "labels": labels},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": _host_network_pod_spec(
                        "coredns",
                        container,
                        [{"name": "config", "configMap": {"name": "coredns"}}],
                    ),
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": _SYSTEM, "labels": labels},
            "spec": {
                "clusterIP": dns_ip,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": L.COREDNS_PORT},
                    {
                        "name": "dns-tcp",
                        "port": 53,
                        "protocol": "TCP",
                        "targetPort": L.COREDNS_PORT,
                    },
                ],
            },
        },
    ]


def metrics_server(apiserver_host: str, apiserver_port: int) -> list[Manifest]:
    """metrics-server registered as `v1beta1.metrics.k8s.io` through the aggregation layer."""
    labels = {"k8s-app": "metrics-server"}
    rbac = "rbac.authorization.k8s.io"
    container = {
        "name": "metrics-server",
        "image": L.METRICS_SERVER_IMAGE,
        "imagePullPolicy": "Never",
        "args": [
            f"--secure-port={L.METRICS_SERVER_PORT}",
            f"--bind-address={L.NODE_IP}",
            "--cert-dir=/tmp",
            "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-use-node-status-port",
            "--metric-resolution=15s",
            # The kubelet's serving certificate is signed by the cluster CA: verify it.
            "--kubelet-certificate-authority=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
        ],
        "env": _api_env(apiserver_host, apiserver_port),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "readinessProbe": {
            "httpGet": {
                "host": L.NODE_IP,
                "path": "/readyz",
                "port": L.METRICS_SERVER_PORT,
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
                    "spec": _host_network_pod_spec(
                        "metrics-server", container, [{"name": "tmp", "emptyDir": {}}]
                    ),
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
                        "targetPort": L.METRICS_SERVER_PORT,
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
