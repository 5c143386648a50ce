#!/usr/bin/env bash
# From a fresh machine to a prediction: the local cluster with a real node, the operator,
# and a sample endpoint answering a prediction through its router.
#
# Idempotent; a warm machine reuses every cache under ~/.cache/modelserve. Stop it all
# with `hack/quickstart.sh down`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "down" ]]; then
  .venv/bin/python hack/quickstart.py stop-operator
  exec .venv/bin/modelserve-cluster down
fi

started=$(date +%s)
stamp() { echo "==> [$(( $(date +%s) - started ))s] $*"; }

stamp "setup (Debian packages, venv, Kubernetes binaries)"
./hack/setup.sh
stamp "docker engine"
./hack/docker.sh
stamp "images (scoring, router)"
./images/build.sh serving
./images/build.sh router
stamp "local cluster with a real node"
.venv/bin/modelserve-cluster up --with-node
stamp "operator and sample endpoint"
.venv/bin/python hack/quickstart.py run
stamp "done"
