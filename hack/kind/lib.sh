# Shared settings for hack/kind/*.sh: pinned versions and the versioned cache directories.
# Sourced, not run. Every artefact lands under a directory named for what went into it,
# so a warm machine reuses it and a version bump builds afresh beside the old one.

KIND_VERSION="${KIND_VERSION:-v0.33.0}"
K8S_VERSION="${K8S_VERSION:-v1.36.3}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.3.4}"
LOCAL_PATH_PROVISIONER_VERSION="${LOCAL_PATH_PROVISIONER_VERSION:-v0.0.30}"
DEBIAN_SUITE="bookworm"

# Bump RECIPE when a script changes what goes into a cached artefact.
KIND_RECIPE=1
CACHE_ROOT="${MODELSERVE_CACHE:-$HOME/.cache/modelserve}"
KIND_DIR="$CACHE_ROOT/kind-${KIND_VERSION}"
KIND_BIN="$KIND_DIR/kind"
# Our own tools (runtime wrapper, node network agent), rebuilt when their source changes.
KIND_TOOLS_DIR="$CACHE_ROOT/kind-tools-r${KIND_RECIPE}"
KIND_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$KIND_ROOT/../.." && pwd)"
# The Go module of the local cluster's binaries (relative to here): kubeadm, pause, CoreDNS
# and crictl come from it too.
SHARED_GO=../../cluster/binaries

export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"
export GOFLAGS="${GOFLAGS:--mod=mod}"

kind_log() { echo "kind: $*" >&2; }

# source_hash DIR...: a short hash of the files under the given paths, for cache keys.
source_hash() {
  (cd "$KIND_ROOT" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-12
}
