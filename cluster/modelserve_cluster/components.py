"""Command lines of the control-plane components, all bound to loopback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelserve_cluster.layout import (
    FAKE_NODE_IP,
    POD_CIDR,
    SERVICE_CIDR,
    Layout,
    Ports,
)
from modelserve_cluster.pki import Pki

LOOPBACK = "127.0.0.1"

# Start order; `down` stops them in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

# The controllers operators and their tests lean on. "*" keeps every default-on
# controller; the ones listed after it are spelled out so a reader sees they are on.
CONTROLLERS = (
    "*",
    "deployment-controller",
    "replicaset-controller",
    "job-controller",
    "cronjob-controller",
    "garbage-collector-controller",
    "horizontal-pod-autoscaler-controller",
    "disruption-controller",
    "serviceaccount-token-controller",
    "serviceaccount-controller",
    "namespace-controller",
    "endpointslice-controller",
)


@dataclass(frozen=True)
class ComponentContext:
    """What every command line needs to know."""

    bin_dir: Path
    layout: Layout
    ports: Ports
    pki: Pki

    def binary(self, name: str) -> str:
        return str(self.bin_dir / name)

    @property
    def apiserver_url(self) -> str:
        return f"https://{LOOPBACK}:{self.ports.apiserver}"

    @property
    def etcd_url(self) -> str:
        return f"https://{LOOPBACK}:{self.ports.etcd_client}"


def etcd_argv(ctx: ComponentContext) -> list[str]:
    pki = ctx.pki
    peer_url = f"https://{LOOPBACK}:{ctx.ports.etcd_peer}"
    return [
        ctx.binary("etcd"),
        "--name=modelserve",
        f"--data-dir={ctx.layout.etcd_data_dir}",
        f"--listen-client-urls={ctx.etcd_url}",
        f"--advertise-client-urls={ctx.etcd_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=modelserve={peer_url}",
        "--initial-cluster-state=new",
        # Only the API server (holding a CA-signed client certificate) may talk to etcd.
        "--client-cert-auth=true",
        f"--trusted-ca-file={pki.cert('ca')}",
        f"--cert-file={pki.cert('etcd-server')}",
        f"--key-file={pki.key('etcd-server')}",
        "--peer-client-cert-auth=true",
        f"--peer-trusted-ca-file={pki.cert('ca')}",
        f"--peer-cert-file={pki.cert('etcd-server')}",
        f"--peer-key-file={pki.key('etcd-server')}",
        "--log-level=warn",
    ]


def apiserver_argv(ctx: ComponentContext) -> list[str]:
    pki = ctx.pki
    return [
        ctx.binary("kube-apiserver"),
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        f"--secure-port={ctx.ports.apiserver}",
        f"--etcd-servers={ctx.etcd_url}",
        f"--etcd-cafile={pki.cert('ca')}",
        f"--etcd-certfile={pki.cert('apiserver-etcd-client')}",
        f"--etcd-keyfile={pki.key('apiserver-etcd-client')}",
        f"--tls-cert-file={pki.cert('apiserver')}",
        f"--tls-private-key-file={pki.key('apiserver')}",
        f"--client-ca-file={pki.cert('ca')}",
        f"--kubelet-client-certificate={pki.cert('apiserver-kubelet-client')}",
        f"--kubelet-client-key={pki.key('apiserver-kubelet-client')}",
        # The real node's name resolves nowhere: reach its kubelet (logs, exec) by address.
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        f"--service-account-key-file={pki.service_account_public_key}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        # The `kubernetes` Service cannot have a loopback endpoint (the API rejects
        # 127.0.0.0/8 in Endpoints), and no pod runs for real in layer 1 to use it.
        "--endpoint-reconciler-type=none",
        # Aggregated APIs (metrics-server) are reached through the front proxy.
        f"--requestheader-client-ca-file={pki.cert('front-proxy-ca')}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki.cert('front-proxy-client')}",
        f"--proxy-client-key-file={pki.key('front-proxy-client')}",
        "--enable-aggregator-routing=true",
        "--profiling=false",
    ]


def _control_loop_common(
    ctx: ComponentContext, component: str, serving: str, port: int
) -> list[str]:
    kubeconfig = ctx.layout.component_kubeconfig(component)
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={port}",
        f"--tls-cert-file={ctx.pki.cert(serving)}",
        f"--tls-private-key-file={ctx.pki.key(serving)}",
        f"--client-ca-file={ctx.pki.cert('ca')}",
        # One instance only: skipping the election saves its lease wait at start-up.
        "--leader-elect=false",
        "--profiling=false",
    ]


def controller_manager_argv(ctx: ComponentContext) -> list[str]:
    pki = ctx.pki
    return [
        ctx.binary("kube-controller-manager"),
        *_control_loop_common(
            ctx,
            "kube-controller-manager",
            "controller-manager-serving",
            ctx.ports.controller_manager,
        ),
        f"--controllers={','.join(CONTROLLERS)}",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.cert('ca')}",
        f"--cluster-signing-cert-file={pki.cert('ca')}",
        f"--cluster-signing-key-file={pki.key('ca')}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # HPA reads metrics every 15 s by default; tests want a quicker loop.
        "--horizontal-pod-autoscaler-sync-period=5s",
        # The defaults (20 requests/s, 5 workers per controller) left ReplicaSet status
        # minutes behind the pods with a few hundred Deployments (bench/operator.py).
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--concurrent-deployment-syncs=20",
        "--concurrent-replicaset-syncs=20",
        # Slack for a busy 2-core machine, where KWOK may renew its nodes' leases late:
        # a node judged NotReady has every pod on it set NotReady (seen with 400 pods).
        "--node-monitor-grace-period=3m",
    ]


def scheduler_argv(ctx: ComponentContext) -> list[str]:
    return [
        ctx.binary("kube-scheduler"),
        *_control_loop_common(ctx, "kube-scheduler", "scheduler-serving", ctx.ports.scheduler),
    ]


# The lease a kubelet keeps by default; KWOK renews it every quarter of this.
KWOK_NODE_LEASE_SECONDS = 40


def kwok_argv(ctx: ComponentContext, stages_file: Path) -> list[str]:
    return [
        ctx.binary("kwok"),
        f"--kubeconfig={ctx.layout.component_kubeconfig('kwok')}",
        f"--config={stages_file}",
        # Only nodes we mark as fake: a real kubelet (layer 2) keeps its own nodes.
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--cidr={POD_CIDR}",
        f"--node-ip={FAKE_NODE_IP}",
        # Leases are off unless asked for (the flag defaults to 0 without a full KWOK
        # configuration). Without them the node-lifecycle controller judges the nodes by
        # the Ready condition's heartbeat alone, finds it stale, marks the nodes Unknown
        # and every pod on them NotReady, and pods flap between KWOK's Ready and its
        # NotReady: endpoints stay unready and a reconcile storm follows. Renewed every
        # 10 s (a quarter of the duration), like a kubelet.
        f"--node-lease-duration-seconds={KWOK_NODE_LEASE_SECONDS}",
    ]
