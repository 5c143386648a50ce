#!/usr/bin/env bash
# Run every test tier from a clean checkout: lint, unit, data plane, integration
# (a real control plane) and end-to-end (real pods on a real node).
#
# Installs and starts what the tiers need (hack/setup.sh, Docker, the local cluster);
# warm machines reuse the caches under ~/.cache/modelserve. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
stamp() { echo "==> [$(( $(date +%s) - started ))s] $*"; }

stamp "setup"
./hack/setup.sh
stamp "docker engine"
./hack/docker.sh
stamp "images"
./images/build.sh all
stamp "local cluster"
if [[ "${CI:-}" == "true" ]]; then
  # CI starts from a clean cluster state (the binaries and images stay cached), so a
  # run never depends on what an earlier session left in etcd.
  .venv/bin/modelserve-cluster down --purge
fi
.venv/bin/modelserve-cluster up --with-node

stamp "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

stamp "pytest"
set +e
.venv/bin/pytest "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  rc=1
fi
if [[ "${CI:-}" == "true" ]]; then
  .venv/bin/modelserve-cluster down || true
fi
stamp "done (pytest exit $rc)"
exit $rc
