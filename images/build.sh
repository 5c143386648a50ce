#!/usr/bin/env bash
# Build modelserve's container images locally:
#   images/build.sh [serving|operator|router|pause|base|all]; `all` is every image in
#   images/images.txt (the one list the node, kind and the tests load) plus pause.
# `images/build.sh containerd-import` then loads the built images into a containerd.
#
# Our build machines reach no container registry, only Debian's and PyPI's, so the base
# image is made from Debian packages with debootstrap and imported with `docker import`.
# Its rootfs tarball is cached under a versioned directory, so a warm machine only imports
# it. Python dependencies are downloaded as wheels on the host and installed offline in
# the build. Elsewhere, `docker build` with the default BASE_IMAGE needs none of this.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Bump RECIPE when this script changes what goes into a cached artefact.
RECIPE=1
DEBIAN_SUITE="bookworm"
PYTHON_TAG="cp311"
CACHE_ROOT="${MODELSERVE_CACHE:-$HOME/.cache/modelserve}"
IMAGE_CACHE="$CACHE_ROOT/images-r${RECIPE}"
WHEEL_CACHE="$CACHE_ROOT/wheels-r${RECIPE}-${PYTHON_TAG}-manylinux-x86_64"
BASE_IMAGE="local/debian-python:${DEBIAN_SUITE}"
BASE_TAR="$IMAGE_CACHE/debian-${DEBIAN_SUITE}-python.tar"
TAG="${MODELSERVE_IMAGE_TAG:-dev}"
WHEELHOUSE="$REPO_ROOT/images/wheelhouse"

# Our machines have the legacy builder; BuildKit would also work where it is set up.
export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"

log() { echo "build.sh: $*" >&2; }

debian_mirror() {
  # Use the mirror apt already trusts here, so the rootfs sees the same package versions.
  if [[ -n "${MODELSERVE_DEBIAN_MIRROR:-}" ]]; then echo "$MODELSERVE_DEBIAN_MIRROR"; return; fi
  local uri
  uri="$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

build_base_tarball() {
  local rootfs="$IMAGE_CACHE/rootfs.partial"
  log "making the base rootfs with debootstrap (once per machine; a few minutes)"
  rm -rf "$rootfs"
  mkdir -p "$rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv \
    "$DEBIAN_SUITE" "$rootfs" "$(debian_mirror)" >"$IMAGE_CACHE/debootstrap.log" 2>&1 || {
    tail -n 20 "$IMAGE_CACHE/debootstrap.log" >&2
    exit 1
  }
  # Package lists and the apt cache are only needed to install more, which images do in
  # their own layers; dropping them keeps the base small.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  # The build machine's resolv.conf and hostname must not leak into the image.
  : >"$rootfs/etc/resolv.conf"
  echo "modelserve" >"$rootfs/etc/hostname"
  tar --numeric-owner -C "$rootfs" -cf "$BASE_TAR.partial" .
  mv "$BASE_TAR.partial" "$BASE_TAR"
  rm -rf "$rootfs"
}

ensure_base_image() {
  # The label tells an image imported by an older recipe apart from a current one.
  local recipe
  recipe="$(docker image inspect --format '{{index .Config.Labels "io.modelserve.base-recipe"}}' \
    "$BASE_IMAGE" 2>/dev/null || true)"
  if [[ "$recipe" == "$RECIPE" ]]; then return; fi
  mkdir -p "$IMAGE_CACHE"
  [[ -f "$BASE_TAR" ]] || build_base_tarball
  log "importing $BASE_TAR as $BASE_IMAGE"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --change "LABEL io.modelserve.base-recipe=$RECIPE" \
    "$BASE_TAR" "$BASE_IMAGE" >/dev/null
}

host_python() {
  # Any pip will do for downloading; the project's venv has one, system Python may not.
  if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then echo "$REPO_ROOT/.venv/bin/python"; else echo python3; fi
}

image_requirements() {
  # What the scoring and operator Dockerfiles install (each component's dependencies and
  # modelserve-api's), plus what building modelserve's own packages needs: one wheelhouse
  # serves both images.
  (cd "$REPO_ROOT" && python3 images/requirements.py api serving-image operator)
  python3 -c 'import sys, tomllib; print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["build-system"]["requires"]))' \
    "$REPO_ROOT/api/pyproject.toml"
}

ensure_wheels() {
  mkdir -p "$WHEEL_CACHE"
  local wanted="$WHEEL_CACHE/requirements.in"
  if [[ -f "$WHEEL_CACHE/complete" ]] && cmp -s <(image_requirements) "$wanted"; then return; fi
  log "downloading ${PYTHON_TAG} manylinux wheels into $WHEEL_CACHE"
  image_requirements >"$wanted"
  rm -f "$WHEEL_CACHE/complete"
  # The image's Python (Debian bookworm: CPython 3.11, glibc 2.36) decides the tags, not
  # the host's, so they are given explicitly; pip does not widen a given manylinux tag
  # to the older ones it is compatible with, so every one is listed.
  local platforms=(--platform manylinux1_x86_64 --platform manylinux2010_x86_64
    --platform manylinux2014_x86_64)
  local glibc_minor
  for glibc_minor in $(seq 5 36); do platforms+=(--platform "manylinux_2_${glibc_minor}_x86_64"); done
  "$(host_python)" -m pip download --quiet --disable-pip-version-check \
    --only-binary=:all: --implementation cp --python-version 3.11 \
    --abi cp311 --abi abi3 --abi none "${platforms[@]}" \
    --dest "$WHEEL_CACHE" -r "$wanted"
  touch "$WHEEL_CACHE/complete"
}

sync_wheelhouse() {
  # Copy with timestamps kept and only what changed, so Docker's layer cache still hits.
  local whl name
  for whl in "$WHEELHOUSE"/*.whl; do
    [[ -e "$whl" ]] || continue
    [[ -e "$WHEEL_CACHE/$(basename "$whl")" ]] || rm -f "$whl"
  done
  for whl in "$WHEEL_CACHE"/*.whl; do
    name="$(basename "$whl")"
    [[ -e "$WHEELHOUSE/$name" ]] || cp -p "$whl" "$WHEELHOUSE/$name"
  done
}

docker_build() {
  # $1 names the image (and its log); the rest are `docker build` arguments.
  local image="$1" log_file
  shift
  mkdir -p "$IMAGE_CACHE/logs"
  log_file="$IMAGE_CACHE/logs/${image//[\/:]/_}.log"
  log "building $image (log: $log_file)"
  if ! docker build -t "$image" "$@" >"$log_file" 2>&1; then
    log "building $image failed; the end of its log:"
    tail -n 40 "$log_file" >&2
    exit 1
  fi
}

build_serving() {
  ensure_base_image
  ensure_wheels
  sync_wheelhouse
  docker_build "modelserve/scoring:$TAG" -f "$REPO_ROOT/serving-image/Dockerfile" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg OFFLINE_WHEELS=1 "$REPO_ROOT"
}

build_operator() {
  ensure_base_image
  ensure_wheels
  sync_wheelhouse
  docker_build "modelserve/operator:$TAG" -f "$REPO_ROOT/operator/Dockerfile" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg OFFLINE_WHEELS=1 "$REPO_ROOT"
}

build_router() {
  ensure_base_image
  docker_build "modelserve/router:$TAG" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    "$REPO_ROOT/images/router"
}

build_pause() {
  ensure_base_image
  docker_build "modelserve/pause:$TAG" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    "$REPO_ROOT/images/pause"
}

import_into_containerd() {
  # A kubelet backed by containerd looks for images in its "k8s.io" namespace; `docker save`
  # names them docker.io/modelserve/…:dev, which is what "modelserve/…:dev" in a pod means.
  local address="${CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}"
  local namespace="${MODELSERVE_CONTAINERD_NAMESPACE:-k8s.io}"
  local images=() name
  for name in $(listed images); do images+=("$name:$TAG"); done
  images+=("modelserve/pause:$TAG")
  log "importing ${images[*]} into containerd at $address (namespace $namespace)"
  docker save "${images[@]}" | ctr --address "$address" -n "$namespace" images import - >/dev/null
}

listed() {
  # images/images.txt, without comments: `listed images` or `listed targets`.
  local column=1
  [[ "$1" == targets ]] && column=2
  sed -e 's/#.*//' "$REPO_ROOT/images/images.txt" | awk -v c="$column" 'NF {print $c}'
}

"$REPO_ROOT/hack/docker.sh" >/dev/null
target="${1:-all}"
case "$target" in
  base) ensure_base_image ;;
  serving) build_serving ;;
  operator) build_operator ;;
  router) build_router ;;
  pause) build_pause ;;
  all)
    for listed_target in $(listed targets); do "build_$listed_target"; done
    build_pause
    ;;
  containerd-import) import_into_containerd ;;
  *)
    log "unknown target '$target' (expected serving, operator, router, pause, base, all or containerd-import)"
    exit 2
    ;;
esac
