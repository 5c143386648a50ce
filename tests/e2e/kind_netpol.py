"""NetworkPolicies enforced on the e2e tier's kind cluster: our agent, in pods.

kind's own CNI, kindnetd, enforces NetworkPolicies; the node image built here runs podnet
instead, which does not. The agent (kube-network-policies' controller,
`cluster/binaries/netpol-agent/`) runs in a host-network pod on each node with a
ServiceAccount, and iptables NFQUEUE rules (this kernel lacks nftables' `queue`) are added
in each node's network namespace.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from modelserve_cluster import addons

NAME = "netpol-agent"
NAMESPACE = "kube-system"
IMAGE = "docker.io/modelserve/node-netpol-agent:r1"
TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def kubeconfig(apiserver: str) -> str:
    """The agent's kubeconfig: its ServiceAccount token and the cluster CA, as files."""
    cluster = {"server": apiserver, "certificate-authority": f"{TOKEN_DIR}/ca.crt"}
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kind", "cluster": cluster}],
            "users": [{"name": "agent", "user": {"tokenFile": f"{TOKEN_DIR}/token"}}],
            "contexts": [{"name": "kind", "context": {"cluster": "kind", "user": "agent"}}],
            "current-context": "kind",
        }
    )


def manifests(apiserver: str) -> list[dict[str, Any]]:
    """The agent's RBAC bound to a ServiceAccount, its kubeconfig and DaemonSet."""
    rbac = copy.deepcopy(addons.netpol_agent_rbac())
    for manifest in rbac:
        if manifest["kind"] == "ClusterRoleBinding":
            manifest["subjects"] = [
                {"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}
            ]
    labels = {"k8s-app": NAME}
    container = {
        "name": NAME,
        "image": IMAGE,
        "imagePullPolicy": "Never",
        "args": [
            "--kubeconfig=/etc/netpol-agent/kubeconfig",
            "--node-name=$(NODE_NAME)",
            f"--nfqueue-id={addons.NETPOL_QUEUE}",
            f"--metrics-bind-address=127.0.0.1:{addons.NETPOL_AGENT_PORT}",
        ],
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "securityContext": {"privileged": True, "runAsUser": 0},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/netpol-agent"}],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": NAMESPACE},
        },
        *rbac,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": NAME, "namespace": NAMESPACE},
            "data": {"kubeconfig": kubeconfig(apiserver)},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": NAME,
                        "hostNetwork": True,
                        "dnsPolicy": "ClusterFirstWithHostNet",
                        "priorityClassName": "system-node-critical",
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [container],
                        "volumes": [{"name": "config", "configMap": {"name": NAME}}],
                    },
                },
            },
        },
    ]


def queue_rules(pod_subnet: str, host_address: str) -> list[list[str]]:
    """The mangle rules that send new pod connections to the agent.

    First, the host's own connections (the tests' calls) pass unjudged, as root-owned host
    sockets do under upstream's agent. The API server's pod proxy (from the control-plane
    node) is judged like any other traffic on kind: the tier names its address to the operator
    (`MODELSERVE_API_SERVER_CIDRS`, the chart's `networkPolicies.apiServerCIDRs`), as a
    user on such a cluster does.
    """
    tag = ["-m", "comment", "--comment", "modelserve-kind-host"]
    return [
        ["POSTROUTING", "-s", f"{host_address}/32", "-d", pod_subnet, *tag, "-j", "ACCEPT"],
        *addons.policy_queue_rules(pod_subnet),
    ]


def image_archive(bin_dir: Path, out: Path) -> Path:
    """The agent's image (one static binary, run as root) as a `docker save` archive."""
    return addons.write_single_binary_image(bin_dir / NAME, IMAGE, out)
