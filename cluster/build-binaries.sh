#!/usr/bin/env bash
# Build the Kubernetes, etcd, KWOK (kwok, kwokctl) and Helm binaries the local cluster
# runs, from Go modules.
#
# No registry reachable from our machines ships Kubernetes' server binaries, so we
# compile them from the k8s.io/kubernetes module. `go install` refuses that module
# (its go.mod replaces the staging repos with local paths), so we make a throw-away
# module that requires it and points every staging repo at its published v0.Y.Z tag.
# Results are cached under a versioned directory, so a warm machine skips all of this.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
METRICS_SERVER_VERSION="${METRICS_SERVER_VERSION:-v0.8.0}"
# Bump RECIPE when this script changes what it builds, so old caches are not reused.
RECIPE=1
CACHE_ROOT="${MODELSERVE_CACHE:-$HOME/.cache/modelserve}"
BIN_DIR="$CACHE_ROOT/bin-r${RECIPE}-k8s-${K8S_VERSION}"

server_binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
go_installed=(kwok kwokctl helm)
wanted=("${server_binaries[@]}" etcd "${go_installed[@]}")

if [[ "${1:-}" == "--print-dir" ]]; then echo "$BIN_DIR"; exit 0; fi

missing_binaries() {
  missing=()
  for b in "${wanted[@]}"; do [[ -x "$BIN_DIR/$b" ]] || missing+=("$b"); done
}
missing_binaries
if [[ ${#missing[@]} -eq 0 ]]; then echo "$BIN_DIR"; exit 0; fi

# Two `up`s on a cold machine (say CI and a test fixture) must not build side by side
# into the same directories: the second waits, then finds the cache warm.
mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/build-r${RECIPE}-k8s-${K8S_VERSION}.lock"
if ! flock -n 9; then
  echo "another build of $BIN_DIR is running; waiting for it" >&2
  flock 9
fi
missing_binaries
if [[ ${#missing[@]} -eq 0 ]]; then echo "$BIN_DIR"; exit 0; fi
echo "building into $BIN_DIR: ${missing[*]}" >&2
started=$SECONDS

mkdir -p "$BIN_DIR"
work="$CACHE_ROOT/build-r${RECIPE}-k8s-${K8S_VERSION}"
mkdir -p "$work"
cd "$work"
export GOFLAGS=-mod=mod CGO_ENABLED=0

# A cache warm but for a binary added to this list later builds only what is missing:
# the Kubernetes build below takes most of the time.
needs_kubernetes=false
for b in "${server_binaries[@]}" etcd; do
  if [[ " ${missing[*]} " == *" $b "* ]]; then needs_kubernetes=true; fi
done

if $needs_kubernetes; then
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  staging_version="v0.${K8S_VERSION#v1.}"
  {
    echo "module modelserve.local/k8s-build"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
    gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
    grep -oE '^\s+k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | while read -r repo; do
      echo "replace $repo => $repo $staging_version"
    done
  } > go.mod

  version_pkg=k8s.io/component-base/version
  ldflags="-s -w -X $version_pkg.gitVersion=$K8S_VERSION -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$minor"
  ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

  pkgs=()
  for b in "${server_binaries[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  go build -trimpath -ldflags "$ldflags" -o "$work/out/" "${pkgs[@]}"
  # etcd at exactly the version this Kubernetes release pins (it is in the same module graph).
  go build -trimpath -ldflags "-s -w" -o "$work/out/etcd" go.etcd.io/etcd/server/v3
  for b in "${server_binaries[@]}" etcd; do install -m 0755 "$work/out/$b" "$BIN_DIR/$b"; done
fi

declare -A go_packages=(
  [kwok]="sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # kwokctl, at the same version as kwok: docs/local-cluster.md, "kwokctl".
  [kwokctl]="sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
  [helm]="helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
)
for b in "${go_installed[@]}"; do
  [[ " ${missing[*]} " == *" $b "* ]] || continue
  GOBIN="$work/gobin" go install -trimpath -ldflags "-s -w" "${go_packages[$b]}"
  install -m 0755 "$work/gobin/$b" "$BIN_DIR/"
done
echo "built in $((SECONDS - started)) s" >&2
echo "$BIN_DIR"
