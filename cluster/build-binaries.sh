#!/usr/bin/env bash
# Build every binary the local cluster runs, from Go modules, cached: the Kubernetes
# components, etcd, KWOK (kwok, kwokctl), Helm, and the real node's CoreDNS, metrics-server,
# crictl, pause and NetworkPolicy agent.
#
#   cluster/build-binaries.sh              # build what is missing; the last line is the directory
#   cluster/build-binaries.sh --print-dir  # the directory, never building
#
# No registry reachable from our machines ships these, so we compile them. They all come
# from one module graph (binaries/go.mod, which pins every dependency in go.sum) and one
# `go build`, so the packages they share (client-go, k8s.io/api, gRPC, ...) compile once
# instead of once per tool. The cache directory is named after that module's digest: a
# change to it, or to this script, builds into a new directory.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$HERE/binaries"
SCRIPT="$HERE/$(basename "${BASH_SOURCE[0]}")"
CACHE_ROOT="${MODELSERVE_CACHE:-$HOME/.cache/modelserve}"
K8S_VERSION="$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$SRC/go.mod")"
recipe="$( (cd "$SRC" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 \
  | sort -z | xargs -0 sha256sum; sha256sum <"$SCRIPT") | sha256sum | cut -c1-12)"
BIN_DIR="$CACHE_ROOT/bin-k8s-${K8S_VERSION}-${recipe}"

# name -> package; commands of other modules are also listed in binaries/tools.go.
declare -A packages=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
  [kubelet]=k8s.io/kubernetes/cmd/kubelet
  [kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
  [etcd]=go.etcd.io/etcd/server/v3
  [helm]=helm.sh/helm/v3/cmd/helm
  [kwok]=sigs.k8s.io/kwok/cmd/kwok
  [kwokctl]=sigs.k8s.io/kwok/cmd/kwokctl
  [crictl]=sigs.k8s.io/cri-tools/cmd/crictl
  [metrics-server]=sigs.k8s.io/metrics-server/cmd/metrics-server
  [coredns]=./coredns
  [pause]=./pause
  [netpol-agent]=./netpol-agent
)

if [[ "${1:-}" == "--print-dir" ]]; then echo "$BIN_DIR"; exit 0; fi

missing_binaries() {
  missing=()
  for b in "${!packages[@]}"; do [[ -x "$BIN_DIR/$b" ]] || missing+=("$b"); done
}
missing_binaries
if [[ ${#missing[@]} -eq 0 ]]; then echo "$BIN_DIR"; exit 0; fi

# Two `up`s on a cold machine (say CI and a test fixture) must not build side by side
# into the same directory: the second waits, then finds the cache warm.
mkdir -p "$CACHE_ROOT"
exec 9>"$BIN_DIR.lock"
if ! flock -n 9; then
  echo "another build of $BIN_DIR is running; waiting for it" >&2
  flock 9
fi
missing_binaries
if [[ ${#missing[@]} -eq 0 ]]; then echo "$BIN_DIR"; exit 0; fi

started=$SECONDS
echo "building ${missing[*]} into $BIN_DIR: one go build of the module cluster/binaries" \
  "(about 9 minutes on two cores with Go's caches cold; it prints nothing until it ends)" >&2

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
version_flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
done
out="$BIN_DIR.partial"
mkdir -p "$out"
targets=()
for b in "${missing[@]}"; do targets+=("${packages[$b]}"); done
# -mod=readonly: go.sum must already pin every module; nothing unverified is fetched.
# The release's version goes into the Kubernetes commands only (later -ldflags patterns win).
(cd "$SRC" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" \
  -ldflags "k8s.io/kubernetes/cmd/...=-s -w$version_flags" -o "$out/" "${targets[@]}")
# `go build -o DIR/` names each binary after its package's last path element.
mkdir -p "$BIN_DIR"
for b in "${missing[@]}"; do
  built="${packages[$b]##*/}"
  [[ "$b" == etcd ]] && built=server  # go.etcd.io/etcd/server/v3: the major-version suffix is dropped
  install -m 0755 "$out/$built" "$BIN_DIR/$b"
done
rm -rf "$out"
echo "built in $((SECONDS - started)) s" >&2
echo "$BIN_DIR"
