#!/usr/bin/env bash
# Run every test tier from a clean checkout: the newcomer path (the README's first
# command), lint, unit, data plane, storage (a real S3 store on loopback), integration
# (a real control plane) and end-to-end (real pods on a real node, and the walk-through
# on a kind cluster).
#
# Installs and starts what the tiers need; warm machines reuse the caches under
# ~/.cache/modelserve. Extra arguments go to pytest. A timing table closes the run.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/phases.sh

QUICKSTART_LOG="${MODELSERVE_QUICKSTART_LOG:-$PWD/.ci-output/quickstart.log}"
mkdir -p "$(dirname "$QUICKSTART_LOG")"

newcomer_path() {
  if [[ "${CI:-}" == "true" && -x .venv/bin/modelserve-cluster ]]; then
    # CI walks the newcomer's path: no cluster state and no image in the node's
    # containerd is left from an earlier run (the binary and image caches stay).
    .venv/bin/modelserve-cluster down --purge
  fi
  ./hack/quickstart.sh 2>&1 | tee "$QUICKSTART_LOG"
}

rc=0
finish() {
  phase_table
  echo "pytest exit $rc"
}
trap finish EXIT

# First, before anything else prepares the machine: the README's first command, as a
# newcomer runs it. tests/e2e/test_quickstart.py then checks what it printed and left.
phase "newcomer path: ./hack/quickstart.sh" newcomer_path
export MODELSERVE_QUICKSTART_LOG="$QUICKSTART_LOG"
# The same steps again are no-ops on the machine the quickstart prepared; they stay so
# that this script alone still prepares everything the tiers need.
phase "setup" ./hack/setup.sh
phase "docker engine" ./hack/docker.sh
phase "images" ./images/build.sh all
phase "local cluster" .venv/bin/modelserve-cluster up --with-node
# kind and its node image, built from Debian packages and Go modules (no registry here),
# and Docker made able to run kind's --privileged nodes: tests/e2e/test_kind.py then only
# creates the cluster. A cold build takes minutes; a warm one returns at once.
phase "kind node image" bash -c './hack/kind/docker-runtime.sh && ./hack/kind/build.sh'
# Test-only tools built from Go modules (kstatus: the GitOps health verdict, from cli-utils;
# seaweedfs: the real S3-compatible store tests/storage starts on loopback; mlflow: the
# tracking server tests/storage starts, in its own venv from PyPI). Built here so
# pytest only reads the cache: weed's first build takes minutes.
phase "test tools" bash -c './hack/tools/build.sh kstatus && ./hack/tools/build.sh seaweedfs && ./hack/tools/mlflow.sh'
phase "ruff" bash -c '.venv/bin/ruff check . && .venv/bin/ruff format --check .'

set +e
phase "pytest" .venv/bin/pytest "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  rc=1
fi
if [[ "${CI:-}" == "true" ]]; then
  phase "cluster down" .venv/bin/modelserve-cluster down || true
fi
exit $rc
