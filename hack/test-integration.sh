#!/usr/bin/env bash
# The integration tier on a kwokctl cluster of its own (hack/kwokctl.sh), made for the run
# and deleted after it, so that hack/test.sh can run it beside the end-to-end tier, which
# has a kind cluster to itself. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export MODELSERVE_KWOKCTL_NAME=modelserve-integration MODELSERVE_KWOKCTL_PORT=26444
# A cluster left by an interrupted run would be reused with whatever it held.
./hack/kwokctl.sh down >/dev/null 2>&1 || true
kubeconfig="$(./hack/kwokctl.sh up)"
status=0
MODELSERVE_TEST_KUBECONFIG="$kubeconfig" .venv/bin/pytest "$@" tests/integration || status=$?
./hack/kwokctl.sh down || true
exit "$status"
