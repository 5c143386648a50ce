#!/usr/bin/env bash
# A modelserve cluster on `kwokctl --runtime binary`, from the binaries cluster/build-binaries.sh
# caches (nothing is downloaded), with our KWOK stages and simulated nodes, on loopback
# ports. docs/local-cluster.md, "kwokctl".
#
#   hack/kwokctl.sh up       create it (or keep it if it runs) and print its kubeconfig's path
#   hack/kwokctl.sh down     delete it
#   hack/kwokctl.sh kubeconfig
#
# MODELSERVE_KWOKCTL_NAME (default modelserve), MODELSERVE_KWOKCTL_PORT (API server port,
# default 26443) and KWOK_WORKDIR (kwokctl's state, default ~/.kwok) choose where it lives.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
name="${MODELSERVE_KWOKCTL_NAME:-modelserve}"
port="${MODELSERVE_KWOKCTL_PORT:-26443}"
export KWOK_WORKDIR="${KWOK_WORKDIR:-$HOME/.kwok}"
state="$KWOK_WORKDIR/clusters/$name"
kubeconfig="$state/kubeconfig.yaml"
bin="$("$root/cluster/build-binaries.sh")"
kwokctl=("$bin/kwokctl" --name "$name")

case "${1:-}" in
  up)
    if "${kwokctl[@]}" get clusters | grep -qx "$name"; then
      "${kwokctl[@]}" start cluster >&2
    else
      # --kubeconfig names a file of the cluster's own, so ~/.kube/config is never edited.
      # kubectl has no flag; without it kwokctl would record a download address for it.
      KWOK_KUBECTL_BINARY="$bin/kubectl" "${kwokctl[@]}" create cluster \
        --config "$root/cluster/kwokctl/kwokctl.yaml" \
        --config "$root/cluster/modelserve_cluster/kwok-stages.yaml" \
        --kubeconfig "$kubeconfig" \
        --kube-apiserver-port "$port" \
        --kube-apiserver-binary "$bin/kube-apiserver" \
        --kube-controller-manager-binary "$bin/kube-controller-manager" \
        --kube-scheduler-binary "$bin/kube-scheduler" \
        --kwok-controller-binary "$bin/kwok" \
        --etcd-binary "$bin/etcd" \
        --wait 120s >&2
    fi
    # The two simulated nodes the tests schedule on (modelserve_cluster.layout.FAKE_NODE_NAMES).
    for node in kwok-node-0 kwok-node-1; do
      sed "s/\${name}/$node/g" "$root/cluster/modelserve_cluster/kwok-node.yaml.tmpl"
      echo "---"
    done | "$bin/kubectl" --kubeconfig "$kubeconfig" apply --server-side -f - >&2
    "$bin/kubectl" --kubeconfig "$kubeconfig" wait --for=condition=Ready \
      node/kwok-node-0 node/kwok-node-1 --timeout=60s >&2
    # Nothing answers the simulated pods' and nodes' addresses: calls to them must fail on
    # this machine, not follow the default route (cluster/modelserve_cluster/unreachable.py).
    "$root/.venv/bin/python" -m modelserve_cluster.unreachable hold "$state" >&2
    echo "$kubeconfig"
    ;;
  down)
    "$root/.venv/bin/python" -m modelserve_cluster.unreachable release "$state" >&2
    "${kwokctl[@]}" delete cluster --kubeconfig "$kubeconfig" >&2
    ;;
  kubeconfig)
    echo "$kubeconfig"
    ;;
  *)
    echo "usage: $0 up|down|kubeconfig" >&2
    exit 2
    ;;
esac
