#!/usr/bin/env bash
# Run every test tier from a clean checkout: the newcomer path (the README's first
# command), lint, unit, data plane, storage (a real S3 store on loopback), integration
# (a real control plane, kwokctl's) and end-to-end (real pods on a kind cluster).
#
# Installs and starts what the tiers need; warm machines reuse the caches under
# ~/.cache/modelserve. Without arguments every tier runs (pytest_tiers below: the tiers
# that need no cluster beside those that do); with arguments, one pytest runs with them.
# A timing table closes the run.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/phases.sh

QUICKSTART_LOG="${MODELSERVE_QUICKSTART_LOG:-$PWD/.ci-output/quickstart.log}"
mkdir -p "$(dirname "$QUICKSTART_LOG")"

newcomer_path() {
  if [[ "${CI:-}" == "true" && -x .venv/bin/python ]]; then
    # CI walks the newcomer's path: no cluster is left from an earlier run, so no image
    # loaded before (the binary and image caches stay).
    ./hack/quickstart.sh down >/dev/null 2>&1 || true
  fi
  ./hack/quickstart.sh 2>&1 | tee "$QUICKSTART_LOG"
}

# The end-to-end tier's kind cluster (tests/e2e/kind_cluster.py, a name of its own), kept
# between the two pytest runs that use it and deleted at the end.
e2e_cluster_down() {
  # The harness's own delete: the cluster and the host routes it added for it.
  .venv/bin/python tests/e2e/kind_cluster.py delete modelserve-e2e
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
phase "ruff" bash -c '.venv/bin/ruff check . && .venv/bin/ruff format --check .'
# Docker made able to run kind's --privileged nodes (a no-op after the quickstart).
phase "kind: docker runtime" ./hack/kind/docker-runtime.sh

# kind and its node image (built by the quickstart, a no-op then), and the test tools:
# kstatus (the GitOps health verdict, from cli-utils), seaweedfs (the S3-compatible store
# tests/storage starts on loopback), both from Go modules, and mlflow (the tracking server
# tests/storage starts, in its own venv from PyPI).
BUILD_TEST_TOOLS=(bash -c './hack/kind/build.sh && ./hack/tools/build.sh kstatus &&
  ./hack/tools/build.sh seaweedfs && ./hack/tools/mlflow.sh')

# pytest_tiers: every tier, the ones that need no cluster beside the ones that do. (A pytest
# that collects nothing fails: tests/conftest.py turns its exit status 5 into 1.)
#
# The cluster tiers spend most of their time waiting on pods and the control plane (the
# CPUs are about 40 % busy then), so the unit and data-plane tiers run beside the
# end-to-end tier, so does the integration tier on a control plane of its own, and so do
# the test tools, which are Go builds of minutes on a cold machine and nothing on a warm
# one. The quickstart's checks go first, and its cluster goes before the tier makes its
# own. The READMEs go next: their waits are the longest and the most patient (kubectl wait
# ... --timeout=300s). The tests that use the tools (the stores of tests/storage and of the
# MLflow e2e test) run after them; the builds take a lock, so a harness that asks for a
# tool early waits instead of racing.
pytest_tiers() {
  local rc=0
  # Niced, so that the cluster tiers' pods (and the kubelet, and the operator) come first
  # when all want the CPUs at once: the tests beside them fill what is left idle.
  phase_start "pytest: unit, data plane" nice -n 10 .venv/bin/pytest -p no:cacheprovider \
    tests/unit tests/dataplane
  phase_start "test tools" nice -n 19 "${BUILD_TEST_TOOLS[@]}"
  # The integration tier, on a kwokctl control plane of its own (hack/test-integration.sh).
  phase_start "pytest: integration (kwokctl)" nice -n 5 ./hack/test-integration.sh \
    -p no:cacheprovider
  phase "pytest: the quickstart's cluster" .venv/bin/pytest tests/e2e/test_quickstart.py || rc=1
  phase "quickstart down" ./hack/quickstart.sh down || rc=1
  # Files, not folders: pytest runs the files of a folder in its own order, whatever the
  # order of the arguments.
  local first=(tests/e2e/test_readmes.py)
  local later=(tests/e2e/test_mlflow_alias_e2e.py)
  local file e2e=()
  for file in tests/e2e/test_*.py; do
    [[ " tests/e2e/test_quickstart.py ${first[*]} ${later[*]} " == *" $file "* ]] || e2e+=("$file")
  done
  phase "pytest: end-to-end (kind)" env MODELSERVE_KEEP_CLUSTER=1 \
    .venv/bin/pytest "${first[@]}" "${e2e[@]}" || rc=1
  phase_wait "test tools" || rc=1
  # Two sessions: tests/storage's cluster is a kwokctl one, the e2e file's the kind cluster
  # (one pytest session has one `cluster`; tests/e2e/conftest.py refuses a mix).
  phase "pytest: storage (kwokctl)" .venv/bin/pytest tests/storage || rc=1
  phase "pytest: MLflow on pods (kind)" .venv/bin/pytest "${later[@]}" || rc=1
  phase "end-to-end cluster down" e2e_cluster_down || rc=1
  local tier
  for tier in "pytest: unit, data plane" "pytest: integration (kwokctl)"; do
    phase_wait "$tier" || rc=1
    # Its output, whole: on success too, the counts and durations belong in the CI log.
    cat "${PHASE_BACKGROUND_LOG["$tier"]}"
  done
  return "$rc"
}

set +e
if [[ $# -eq 0 ]]; then
  pytest_tiers
else
  phase "test tools" "${BUILD_TEST_TOOLS[@]}" && phase "pytest" .venv/bin/pytest "$@"
fi
rc=$?
set -e
exit $rc
