#!/usr/bin/env bash
# From a fresh machine to a prediction: the local cluster with a real node, the operator
# installed by its Helm chart (running in a pod), and a sample endpoint answering a
# prediction through its router. The steps after the cluster are hack/walkthrough.py,
# the same ones hack/kind.sh runs on kind; CI runs this script first, from a clean state.
#
# Idempotent; a warm machine reuses every cache under ~/.cache/modelserve. Stop it all
# with `hack/quickstart.sh down`. Every phase shows its progress, and a timing table
# closes the run.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/phases.sh

KUBECONFIG_PATH="$HOME/.modelserve/cluster/kubeconfig"
NAMESPACE=modelserve-quickstart

if [[ "${1:-}" == "down" ]]; then
  if .venv/bin/modelserve-cluster status >/dev/null 2>&1; then
    .venv/bin/python hack/walkthrough.py down --kubeconfig "$KUBECONFIG_PATH" --namespace "$NAMESPACE"
  fi
  exec .venv/bin/modelserve-cluster down
fi

next_steps() {
  cat <<STEPS

Next steps:
  export KUBECONFIG=$KUBECONFIG_PATH PATH=$PWD/.venv/bin:$(cluster/build-binaries.sh --print-dir):\$PATH
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
phase_wait "$BINARIES"
phase "local cluster with a real node (loads every image)" .venv/bin/modelserve-cluster up --with-node
# The local cluster also has simulated nodes: real pods are pinned to the real one.
phase "operator (Helm) and the sample endpoint" \
  .venv/bin/python hack/walkthrough.py up --kubeconfig "$KUBECONFIG_PATH" --namespace "$NAMESPACE" \
  --pin-node modelserve-node
