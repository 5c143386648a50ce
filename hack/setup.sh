#!/usr/bin/env bash
# Install everything modelserve's tests and quickstart need on a fresh Debian machine; idempotent.
#
# Debian packages, the project's venv, and every cluster binary (for kind's node image and
# kwokctl), built from Go modules (cached under ~/.cache/modelserve, so a warm machine skips
# the build).
#
#   hack/setup.sh                     # all of it
#   hack/setup.sh --without-binaries  # not the Go build (hack/quickstart.sh runs it beside)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  docker.io debootstrap          # images are built locally from Debian packages
  nginx-light                    # the endpoint router, run for real in data-plane tests
  wrk                            # load for the benchmarks
  iptables iproute2              # routes to kind's pods and kwokctl's unreachable addresses
  prometheus                     # promtool checks the chart's alert rules
  libgomp1                       # OpenMP runtime LightGBM's wheel links (dev and test venv)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "==> apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
# The five distributions, editable, and the development requirements (the root
# pyproject.toml's dev group). Reinstall only when a pyproject.toml changed since.
stamp=.venv/.modelserve-installed
pyprojects=(pyproject.toml api/pyproject.toml operator/pyproject.toml serving-image/pyproject.toml
  client/pyproject.toml cluster/pyproject.toml)
stale=0
[[ -f $stamp ]] || stale=1
for pyproject in "${pyprojects[@]}"; do [[ $pyproject -nt $stamp ]] && stale=1; done
if [[ $stale == 1 ]]; then
  echo "==> pip install -e api operator serving-image client cluster, --group dev"
  .venv/bin/pip install -q --upgrade 'pip>=25.1'  # --group
  # A venv from before the split holds the one "modelserve" distribution of all four.
  if .venv/bin/pip show -q modelserve >/dev/null 2>&1; then .venv/bin/pip uninstall -q -y modelserve; fi
  .venv/bin/pip install -q -e ./api -e ./operator -e ./serving-image -e ./client -e ./cluster \
    --group dev
  touch "$stamp"
fi

if [[ "${1:-}" != "--without-binaries" ]]; then
  echo "==> the cluster binaries (Kubernetes, etcd, Helm, KWOK, the add-ons)"
  ./cluster/build-binaries.sh >/dev/null
fi
