"""Pure renderers of the node's configuration files: containerd, CNI, kubelet, kube-proxy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from modelserve_cluster.node import layout as L
from modelserve_cluster.node.layout import NodeLayout

CNI_BIN_DIR = "/usr/lib/cni"
RUNC = shutil.which("runc") or "/usr/sbin/runc"


def containerd_config(node: NodeLayout) -> str:
    """containerd 1.6 config (version 2) with its own root, state and sockets."""
    cri = '[plugins."io.containerd.grpc.v1.cri"]'
    return f"""version = 2
root = "{node.containerd_root}"
state = "{node.containerd_state}"

[grpc]
  address = "{node.containerd_socket}"

[ttrpc]
  address = "{node.containerd_socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{node.root}/containerd/opt"

{cri}
  sandbox_image = "{L.PAUSE_IMAGE}"
  # Root here lacks CAP_SYS_RESOURCE: without this every pod sandbox fails to start.
  restrict_oom_score_adj = true
  # Pod network namespaces under our state dir, not /run/netns: ours are unmistakable.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  max_container_log_line_size = 16384

{cri[:-1]}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

{cri[:-1]}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

{cri[:-1]}.containerd.runtimes.runc.options]
  BinaryName = "{RUNC}"
  SystemdCgroup = false

{cri[:-1]}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{node.cni_conf_dir}"
  max_conf_num = 1
"""


def cni_conflist(node: NodeLayout) -> str:
    """A bridge network on our own bridge, host-local IPAM kept under the node dir, portmap."""
    conf = {
        "cniVersion": "0.4.0",
        "name": L.CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": L.BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                # A pod reaching its own Service's ClusterIP loops back through the bridge.
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(node.cni_ipam_dir),
                    "ranges": [[{"subnet": L.NODE_POD_CIDR, "gateway": L.NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(conf, indent=2) + "\n"


def kubelet_config(
    node: NodeLayout, ca_cert: Path, serving_cert: Path, serving_key: Path, dns_ip: str
) -> str:
    """KubeletConfiguration for cgroup v1 with the cgroupfs driver and no systemd."""
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # This machine's cgroups are v1; recent kubelets refuse v1 unless told otherwise.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": L.CGROUP_ROOT,
        "containerRuntimeEndpoint": f"unix://{node.containerd_socket}",
        "address": L.NODE_IP,
        "port": L.KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": L.KUBELET_HEALTHZ_PORT,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(serving_cert),
        "tlsPrivateKeyFile": str(serving_key),
        "clusterDNS": [dns_ip],
        "clusterDomain": L.CLUSTER_DOMAIN,
        # The host's resolv.conf names a server that never answers; pods must not inherit it.
        "resolvConf": str(node.resolv_conf),
        # Container logs stay under the node dir instead of the host's /var/log/pods.
        "podLogsDir": str(node.pod_logs_dir),
        "failSwapOn": False,
        # Our images cannot be pulled again, so the kubelet must never garbage-collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "serializeImagePulls": False,
        "maxPods": 60,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "nodeStatusReportFrequency": "10s",
        "containerLogMaxSize": "5Mi",
    }
    return json.dumps(config, indent=2) + "\n"


def kube_proxy_config(node: NodeLayout, cluster_pod_cidr: str) -> str:
    """iptables mode (no IPVS in this kernel); no sysctl or NodePort on the host's own NICs."""
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(node.kubeconfig("kube-proxy"))},
        "hostnameOverride": L.NODE_NAME,
        "bindAddress": L.NODE_IP,
        "clusterCIDR": cluster_pod_cidr,
        "healthzBindAddress": f"127.0.0.1:{L.KUBE_PROXY_HEALTHZ_PORT}",
        "metricsBindAddress": f"127.0.0.1:{L.KUBE_PROXY_METRICS_PORT}",
        "nodePortAddresses": [L.NODE_POD_CIDR],
        # Zero means "leave the host's conntrack sysctls alone".
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False, "syncPeriod": "10s", "minSyncPeriod": "1s"},
    }
    return json.dumps(config, indent=2) + "\n"


def pod_resolv_conf() -> str:
    """What the kubelet treats as the host's resolv.conf: no upstream that never answers."""
    return "# modelserve node: cluster DNS comes from the kubelet's clusterDNS\noptions ndots:1\n"
