#!/usr/bin/env bash
# From a fresh machine to a prediction: a kind cluster (kind and its node image built here,
# from Go modules and Debian packages: no registry is needed), the operator installed by its
# Helm chart (running in a pod), and a sample endpoint answering a prediction through its
# router. The cluster and the steps after it are hack/kind.sh, which people with Docker,
# kind and a registry run as it is; CI runs this script first, from a clean state.
#
# Idempotent; a warm machine reuses every cache under ~/.cache/modelserve. Stop it all
# with `hack/quickstart.sh down`. Every phase shows its progress, and a timing table
# closes the run.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/phases.sh

export KIND_KUBECONFIG="$HOME/.modelserve/kind-kubeconfig" KIND_CLUSTER_NAME=modelserve
# kind and its node image are built on this machine (hack/kind/build.sh); the images the
# cluster loads are built by the phase of their own below.
export KIND_LOCAL_NODE_IMAGE=1 KIND_SKIP_IMAGE_BUILD=1
NAMESPACE=modelserve-quickstart

if [[ "${1:-}" == "down" ]]; then
  # The cluster goes with everything in it: the release, the example, the loaded images.
  exec ./hack/kind.sh down
fi

next_steps() {
  cat <<STEPS

Next steps:
  export KUBECONFIG=$KIND_KUBECONFIG PATH=$PWD/.venv/bin:$(cluster/build-binaries.sh --print-dir):\$PATH
  kubectl get onlineendpoints,models -n $NAMESPACE
  echo '{"data": [[5.1, 3.5, 1.4, 0.2]]}' | modelserve endpoint invoke iris -n $NAMESPACE --data -
  modelserve endpoint show iris -n $NAMESPACE
Tear it all down:
  ./hack/quickstart.sh down
STEPS
}

finish() {
  local rc=$?
  phase_table
  if [[ $rc -eq 0 ]]; then next_steps; else echo "quickstart failed (exit $rc); the phase marked failed says why above" >&2; fi
}
trap finish EXIT

# The Go build keeps both CPUs busy for minutes on a cold machine; the phases beside it
# mostly wait on the network and the disk (packages, wheels, debootstrap).
BINARIES="binaries: Kubernetes, etcd, Helm, KWOK, node add-ons (one Go build)"
phase_start "$BINARIES" ./cluster/build-binaries.sh
phase "setup: Debian packages, venv" ./hack/setup.sh --without-binaries
phase "docker engine" ./hack/docker.sh
phase "images: $(awk '!/^#/ && NF {printf "%s%s", sep, $1; sep=", "}' images/images.txt)" ./images/build.sh all
# Docker made able to run kind's --privileged nodes (a reload, not a restart; see
# hack/kind/README.md).
phase "kind: docker runtime" ./hack/kind/docker-runtime.sh
phase_wait "$BINARIES"
# kind, kubeadm and the node image reuse the Go build above (hack/kind/README.md).
phase "kind and its node image (Go modules, Debian packages)" ./hack/kind/build.sh
phase "kind cluster: a control plane and a worker (loads every image)" ./hack/kind.sh cluster
phase "operator (Helm) and the sample endpoint" ./hack/kind.sh walkthrough
