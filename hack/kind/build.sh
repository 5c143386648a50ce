#!/usr/bin/env bash
# Build a kind node image on a machine that reaches no container registry, only Debian's
# packages and the Go module proxy; print its name.
#
#   hack/kind/build.sh            # everything below, each step skipped when cached
#   hack/kind/build.sh tools      # kind, kubeadm and the add-on binaries, from Go modules
#   hack/kind/build.sh base       # the base image (systemd, containerd, runc, CNI plugins, crictl)
#   hack/kind/build.sh images     # the images the node preloads
#   hack/kind/build.sh node       # the node image (needs the three above)
#   hack/kind/build.sh --print-image
#
# It does what `kind build node-image` does, with local inputs: that command pulls etcd,
# CoreDNS, pause, kindnetd and local-path-provisioner from registries, and its default CNI
# manifest names a kindnetd image no module proxy has the source of. See README.md here.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Version and recipe make the node image's tag; the label tells a stale build apart.
# The shared build's directory is named after its module and script, so a change there
# (kubelet, kubeadm, CoreDNS, crictl) makes a new node image too.
SERVER_BIN="$("$REPO_ROOT/cluster/build-binaries.sh" --print-dir)"
NODE_RECIPE_HASH="$( (source_hash base manifests podnet build.sh lib.sh; basename "$SERVER_BIN") | sha256sum | cut -c1-12)"
NODE_IMAGE="${KIND_NODE_IMAGE:-local/kind-node:${K8S_VERSION}}"
BASE_IMAGE="local/kind-base:${DEBIAN_SUITE}-$( (source_hash base; basename "$SERVER_BIN") | sha256sum | cut -c1-12)"
DEBIAN_IMAGE="local/debian-python:${DEBIAN_SUITE}"
TOOLS_IMAGE="local/kind-node-tools:${DEBIAN_SUITE}-r${KIND_RECIPE}"
NODE_BIN="$CACHE_ROOT/kind-node-bin-r${KIND_RECIPE}-k8s-${K8S_VERSION}"
# kubeadm is built from the shared module: named after its build, like the directory above.
KUBEADM="$NODE_BIN/kubeadm-${SERVER_BIN##*-}"
GO_WORK="$CACHE_ROOT/kind-build-r${KIND_RECIPE}-k8s-${K8S_VERSION}"

if [[ "${1:-}" == "--print-image" ]]; then echo "$NODE_IMAGE"; exit 0; fi

timed() {
  local what="$1" start=$SECONDS
  shift
  "$@"
  kind_log "$what: $((SECONDS - start)) s"
}

# ---------------------------------------------------------------------------- tools

build_kind() {
  [[ -x "$KIND_BIN" ]] && return
  kind_log "building kind $KIND_VERSION"
  mkdir -p "$KIND_DIR"
  GOBIN="$KIND_DIR/gobin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@$KIND_VERSION"
  mv "$KIND_DIR/gobin/kind" "$KIND_BIN"
  rmdir "$KIND_DIR/gobin"
}

# kubeadm comes from the module cluster/build-binaries.sh builds the other Kubernetes
# binaries from (k8s.io/kubernetes plus its staging repos at their published tags), so it
# reuses every package that build compiled.
build_kubeadm() {
  [[ -x "$KUBEADM" ]] && return
  local minor version_pkg ldflags
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  version_pkg=k8s.io/component-base/version
  ldflags="-s -w -X $version_pkg.gitVersion=$K8S_VERSION -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$minor"
  kind_log "building kubeadm $K8S_VERSION"
  (cd "$KIND_ROOT/$SHARED_GO" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "$ldflags" -o "$KUBEADM.partial" k8s.io/kubernetes/cmd/kubeadm)
  mv "$KUBEADM.partial" "$KUBEADM"
}

# The image tags kubeadm wants, e.g. etcd=3.6.8-0 coredns=v1.14.2 pause=3.10.2.
image_tag() {
  "$KUBEADM" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null \
    | awk -F: -v name="$1" '$1 ~ "/" name "$" {print $2}'
}

build_local_path_provisioner() {
  [[ -x "$NODE_BIN/local-path-provisioner" ]] && return
  kind_log "building local-path-provisioner $LOCAL_PATH_PROVISIONER_VERSION"
  GOBIN="$GO_WORK/gobin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
    "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION"
  install -m 0755 "$GO_WORK/gobin/local-path-provisioner" "$NODE_BIN/local-path-provisioner"
}

# CoreDNS comes from the shared build (its main package is in cluster/binaries/coredns),
# at the version that module pins: it must be the one kubeadm names, or the image kubeadm
# asks for would hold another release.
check_coredns_version() {
  local wanted pinned
  wanted="$(image_tag coredns)"
  pinned="$(awk '$1 == "github.com/coredns/coredns" {print $2; exit}' "$KIND_ROOT/$SHARED_GO/go.mod")"
  if [[ "$wanted" != "$pinned" ]]; then
    kind_log "kubeadm $K8S_VERSION wants CoreDNS $wanted; cluster/binaries/go.mod pins $pinned: set it to $wanted"
    return 1
  fi
}

build_podnet() {
  local out="$NODE_BIN/podnet-$(source_hash podnet)"
  [[ -x "$out" ]] && return
  kind_log "building podnet"
  (cd "$KIND_ROOT/podnet" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.partial" .)
  mv "$out.partial" "$out"
}

tools() {
  mkdir -p "$NODE_BIN" "$GO_WORK"
  # The server binaries, etcd, CoreDNS and crictl, cached by the local cluster's own build.
  "$REPO_ROOT/cluster/build-binaries.sh" >/dev/null
  # One Go build at a time: these machines have two cores.
  timed "kind" build_kind
  timed "kubeadm" build_kubeadm
  check_coredns_version
  timed "local-path-provisioner" build_local_path_provisioner
  timed "podnet" build_podnet
}

# ---------------------------------------------------------------------------- images

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# docker build, quiet unless it fails
docker_build() {
  local log
  log="$(mktemp)"
  if ! docker build "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# The images made from one binary carry its hash in a label, so a rebuilt binary means a
# rebuilt image under the same (kubeadm-given) tag.
binary_label() { echo "io.modelserve.kind-input=$(sha256sum "$1" | cut -c1-16)"; }
image_current() {
  [[ "$(docker image inspect --format '{{index .Config.Labels "io.modelserve.kind-input"}}' "$1" 2>/dev/null)" \
    == "${2#*=}" ]]
}

# docker_build_static IMAGE BINARY NAME [ENTRYPOINT...]: FROM scratch, one static binary.
docker_build_static() {
  local image="$1" binary="$2" name="$3" label
  shift 3
  label="$(binary_label "$binary")"
  image_current "$image" "$label" && return
  local ctx entry=""
  ctx="$(mktemp -d)"
  cp "$binary" "$ctx/$name"
  if [[ $# -gt 0 ]]; then
    entry="$(printf '"%s",' "$@")"
    entry="ENTRYPOINT [${entry%,}]"
  fi
  printf 'FROM scratch\nCOPY %s /usr/local/bin/%s\nENV PATH=/usr/local/bin\nLABEL %s\n%s\n' \
    "$name" "$name" "$label" "$entry" >"$ctx/Dockerfile"
  docker_build -t "$image" "$ctx"
  rm -rf "$ctx"
  kind_log "built $image"
}

ensure_debian_image() {
  image_exists "$DEBIAN_IMAGE" || "$REPO_ROOT/images/build.sh" base
}

# Images that need a shell or iptables (kube-proxy, the volume helper) share one
# Debian layer with the node tools on top.
ensure_tools_image() {
  image_exists "$TOOLS_IMAGE" && return
  ensure_debian_image
  local ctx
  ctx="$(mktemp -d)"
  cat >"$ctx/Dockerfile" <<EOF
FROM $DEBIAN_IMAGE
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -qq \\
    && apt-get install -y -qq --no-install-recommends iptables nftables conntrack iproute2 >/dev/null \\
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log
EOF
  docker_build -t "$TOOLS_IMAGE" "$ctx"
  rm -rf "$ctx"
  kind_log "built $TOOLS_IMAGE"
}

# docker_build_on_tools IMAGE BINARY NAME: one binary on the Debian tools image.
docker_build_on_tools() {
  local image="$1" binary="$2" name="$3" label
  label="$(binary_label "$binary")"
  image_current "$image" "$label" && return
  local ctx
  ctx="$(mktemp -d)"
  cp "$binary" "$ctx/$name"
  printf 'FROM %s\nCOPY %s /usr/local/bin/%s\nLABEL %s\n' "$TOOLS_IMAGE" "$name" "$name" "$label" >"$ctx/Dockerfile"
  docker_build -t "$image" "$ctx"
  rm -rf "$ctx"
  kind_log "built $image"
}

# kube-proxy needs iptables (nft and legacy), whose binaries and libraries are staged from
# the tools image onto scratch: a new node then unpacks ~10 MB besides kube-proxy itself,
# not a Debian system, before its Services work.
docker_build_kube_proxy() {
  local image="$1" binary="$2" label
  label="$(binary_label "$binary")-staged"
  image_current "$image" "$label" && return
  local ctx
  ctx="$(mktemp -d)"
  cp "$binary" "$ctx/kube-proxy"
  cat >"$ctx/Dockerfile" <<EOF
FROM $TOOLS_IMAGE AS stage
RUN set -e; out=/stage; mkdir -p \$out/tmp; \\
    stage() { cp --parents -L "\$1" \$out; ldd "\$1" | awk '\$2 == "=>" && \$3 ~ /^\\// {print \$3} \$1 ~ /^\\// {print \$1}' \\
      | while read -r lib; do cp --parents -L "\$lib" \$out; done; }; \\
    for f in /usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi /usr/sbin/conntrack \\
             /usr/lib/x86_64-linux-gnu/xtables/*.so; do stage "\$f"; done; \\
    for v in nft legacy; do for t in iptables ip6tables; do for s in "" -save -restore; do \\
      ln -s xtables-\$v-multi \$out/usr/sbin/\$t-\$v\$s; done; done; done; \\
    for t in iptables ip6tables; do for s in "" -save -restore; do \\
      ln -s xtables-nft-multi \$out/usr/sbin/\$t\$s; done; done; \\
    cp --parents /etc/protocols /etc/services \$out
FROM scratch
COPY --from=stage /stage/ /
COPY kube-proxy /usr/local/bin/kube-proxy
ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin
LABEL $label
EOF
  docker_build -t "$image" "$ctx"
  rm -rf "$ctx"
  kind_log "built $image"
}

# Sets PRELOAD (image names) and PODNET_IMAGE, PROVISIONER_IMAGE, HELPER_IMAGE.
image_names() {
  ETCD_IMAGE="registry.k8s.io/etcd:$(image_tag etcd)"
  COREDNS_VERSION="$(image_tag coredns)"
  COREDNS_IMAGE="registry.k8s.io/coredns/coredns:$COREDNS_VERSION"
  PAUSE_TAG="$(image_tag pause)"
  PAUSE_IMAGE="registry.k8s.io/pause:$PAUSE_TAG"
  PODNET_HASH="$(source_hash podnet)"
  PODNET_IMAGE="local/kind-podnet:$PODNET_HASH"
  PROVISIONER_IMAGE="local/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION"
  HELPER_IMAGE="$TOOLS_IMAGE"
  PRELOAD=()
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
    PRELOAD+=("registry.k8s.io/$c:$K8S_VERSION")
  done
  PRELOAD+=("$ETCD_IMAGE" "$COREDNS_IMAGE" "$PAUSE_IMAGE" "$PODNET_IMAGE" "$PROVISIONER_IMAGE" "$HELPER_IMAGE")
}

images() {
  image_names
  ensure_tools_image
  local c
  # kubeadm's static pods and DaemonSet give the command; CoreDNS's Deployment only args.
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    docker_build_static "registry.k8s.io/$c:$K8S_VERSION" "$SERVER_BIN/$c" "$c"
  done
  docker_build_kube_proxy "registry.k8s.io/kube-proxy:$K8S_VERSION" "$SERVER_BIN/kube-proxy"
  docker_build_static "$ETCD_IMAGE" "$SERVER_BIN/etcd" etcd
  docker_build_static "$COREDNS_IMAGE" "$SERVER_BIN/coredns" coredns /usr/local/bin/coredns
  docker_build_static "$PROVISIONER_IMAGE" "$NODE_BIN/local-path-provisioner" local-path-provisioner
  # The sandbox and the CNI daemon are on the way to a node's readiness: static binaries,
  # nothing to unpack but themselves.
  docker_build_static "$PODNET_IMAGE" "$NODE_BIN/podnet-$PODNET_HASH" podnet /usr/local/bin/podnet
  docker_build_static "$PAUSE_IMAGE" "$SERVER_BIN/pause" pause /usr/local/bin/pause
}

# ---------------------------------------------------------------------------- base

base() {
  image_exists "$BASE_IMAGE" && return
  ensure_debian_image
  local ctx
  ctx="$(mktemp -d)"
  cp -a "$KIND_ROOT/base/." "$ctx/"
  mkdir -p "$ctx/bin"
  cp "$SERVER_BIN/crictl" "$ctx/bin/crictl"
  kind_log "building $BASE_IMAGE"
  docker_build -t "$BASE_IMAGE" --build-arg "BASE_IMAGE=$DEBIAN_IMAGE" "$ctx"
  rm -rf "$ctx"
}

# ---------------------------------------------------------------------------- node

node_is_current() {
  [[ "$(docker image inspect --format '{{index .Config.Labels "io.modelserve.kind-node"}}' "$NODE_IMAGE" 2>/dev/null)" \
    == "$NODE_RECIPE_HASH" ]]
}

# As kind's node-image build does: a container of the base image, the binaries copied in,
# the manifests written, the images imported into its containerd, then `docker commit`.
node() {
  node_is_current && return
  image_names
  local build="kind-build-$$-$RANDOM"
  kind_log "building $NODE_IMAGE in container $build"
  docker run -d --name "$build" --entrypoint sleep --security-opt seccomp=unconfined "$BASE_IMAGE" infinity >/dev/null
  NODE_BUILD_CONTAINER="$build"
  trap 'docker rm -f -v "$NODE_BUILD_CONTAINER" >/dev/null 2>&1 || true' EXIT
  docker cp "$SERVER_BIN/kubelet" "$build:/usr/bin/kubelet"
  docker cp "$SERVER_BIN/kubectl" "$build:/usr/bin/kubectl"
  docker cp "$KUBEADM" "$build:/usr/bin/kubeadm"
  docker exec "$build" chown root:root /usr/bin/kubelet /usr/bin/kubectl /usr/bin/kubeadm
  echo -n "$K8S_VERSION" | docker exec -i "$build" sh -c 'cat >/kind/version'
  docker exec "$build" mkdir -p /kind/manifests
  sed "s|PODNET_IMAGE|$PODNET_IMAGE|" "$KIND_ROOT/manifests/default-cni.yaml" \
    | docker exec -i "$build" sh -c 'cat >/kind/manifests/default-cni.yaml'
  sed -e "s|PROVISIONER_IMAGE|$PROVISIONER_IMAGE|" -e "s|HELPER_IMAGE|$HELPER_IMAGE|g" \
    "$KIND_ROOT/manifests/default-storage.yaml" \
    | docker exec -i "$build" sh -c 'cat >/kind/manifests/default-storage.yaml'
  docker exec "$build" sed -i "s|registry.k8s.io/pause:SANDBOX_TAG|$PAUSE_IMAGE|" /etc/containerd/config.toml

  # Preload: into the node's containerd content store, as kind does (not unpacked: the
  # overlayfs snapshotter cannot mount in this unprivileged build container).
  docker exec -d "$build" sh -c 'containerd >/tmp/containerd.log 2>&1'
  docker exec "$build" sh -c 'for i in $(seq 1 50); do ctr version >/dev/null 2>&1 && exit 0; sleep 0.2; done; cat /tmp/containerd.log; exit 1'
  docker save "${PRELOAD[@]}" \
    | docker exec -i "$build" ctr --namespace=k8s.io images import --all-platforms --no-unpack -
  docker exec "$build" sh -c 'ctr --namespace=k8s.io images list -q' >&2
  docker exec "$build" sh -c 'pkill containerd; while pgrep -x containerd >/dev/null; do sleep 0.2; done; rm -rf /tmp/* /run/containerd'

  docker commit \
    --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
    --change 'CMD []' \
    --change "LABEL io.modelserve.kind-node=$NODE_RECIPE_HASH" \
    "$build" "$NODE_IMAGE" >/dev/null
  docker rm -f -v "$build" >/dev/null
  kind_log "built $NODE_IMAGE"
}

case "${1:-all}" in
  tools) tools ;;
  base) timed "base image" base ;;
  images) timed "preloaded images" images ;;
  node) timed "node image" node ;;
  all)
    if ! node_is_current; then
      tools
      timed "base image" base
      timed "preloaded images" images
      timed "node image" node
    fi
    ;;
  *) kind_log "unknown step '$1' (tools, base, images, node, all, --print-image)"; exit 1 ;;
esac
echo "$NODE_IMAGE"
