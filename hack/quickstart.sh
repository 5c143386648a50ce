#!/usr/bin/env bash
# From a fresh machine to a prediction: the local cluster with a real node, the operator
# installed by its Helm chart (running in a pod), and a sample endpoint answering a
# prediction through its router. The steps after the cluster are hack/walkthrough.py,
# the same ones hack/kind.sh runs on kind and tests/e2e/test_walkthrough.py runs in CI.
#
# Idempotent; a warm machine reuses every cache under ~/.cache/modelserve. Stop it all
# with `hack/quickstart.sh down`.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECONFIG_PATH="$HOME/.modelserve/cluster/kubeconfig"

if [[ "${1:-}" == "down" ]]; then
  if .venv/bin/modelserve-cluster status >/dev/null 2>&1; then
    .venv/bin/python hack/walkthrough.py down --kubeconfig "$KUBECONFIG_PATH"
  fi
  exec .venv/bin/modelserve-cluster down
fi

started=$(date +%s)
stamp() { echo "==> [$(( $(date +%s) - started ))s] $*"; }

stamp "setup (Debian packages, venv, Kubernetes binaries)"
./hack/setup.sh
stamp "docker engine"
./hack/docker.sh
stamp "images (scoring, router, operator)"
./images/build.sh all
stamp "local cluster with a real node"
.venv/bin/modelserve-cluster up --with-node
stamp "operator (Helm) and sample endpoint"
# The local cluster also has simulated nodes: real pods are pinned to the real one.
.venv/bin/python hack/walkthrough.py up --kubeconfig "$KUBECONFIG_PATH" --pin-node modelserve-node
stamp "done: kubectl --kubeconfig $KUBECONFIG_PATH get onlineendpoints -A"
