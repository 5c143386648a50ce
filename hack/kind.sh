#!/usr/bin/env bash
# The walk-through on kind: creates the cluster from kind-config.yaml, builds and loads
# the images, installs the chart, applies the first example and prints a prediction.
# After the cluster, the steps are hack/walkthrough.py. hack/quickstart.sh (the README's
# first command) runs this script on a machine with no registry, with kind and its node
# image built here.
#
#   hack/kind.sh              # create (or reuse) the cluster and run the walk-through
#   hack/kind.sh cluster      # only create (or reuse) the cluster and load the images
#   hack/kind.sh walkthrough  # only the walk-through, on the cluster made before
#   hack/kind.sh down         # delete the kind cluster
#   KIND_LOCAL_NODE_IMAGE=1 hack/kind.sh
#                         # on a machine that reaches no registry (ours): build kind and
#                         # a node image here first (hack/kind/build.sh, see its README)
#   KIND_SKIP_IMAGE_BUILD=1 hack/kind.sh
#                         # load the modelserve images already built, do not rebuild them
#   KIND_CLUSTER_NAME=NAME  # another cluster name (default: modelserve)
#   KIND_KUBECONFIG=FILE    # the cluster's kubeconfig (default: ~/.modelserve/kind-kubeconfig);
#                           # $KUBECONFIG and ~/.kube/config are never written
#
# Needs: docker, kind, helm and kubectl on PATH (or built by cluster/build-binaries.sh),
# and Python 3.11 with the project's venv (hack/setup.sh makes it).
set -euo pipefail
cd "$(dirname "$0")/.."

STEP="${1:-all}"
case "$STEP" in
  all | cluster | walkthrough | down) ;;
  *) echo "usage: $0 [cluster|walkthrough|down]" >&2; exit 2 ;;
esac
CLUSTER_NAME="${KIND_CLUSTER_NAME:-modelserve}"
TAG="${MODELSERVE_IMAGE_TAG:-dev}"
KUBECONFIG_PATH="${KIND_KUBECONFIG:-$HOME/.modelserve/kind-kubeconfig}"

create_args=()
if [[ -n "${KIND_LOCAL_NODE_IMAGE:-}" ]]; then
  # kind and its node image built on this machine; Docker made able to run kind's nodes.
  if [[ "$STEP" == all || "$STEP" == cluster ]]; then
    ./hack/kind/docker-runtime.sh >/dev/null
    create_args+=(--image "$(./hack/kind/build.sh)")
  fi
  PATH="$(dirname "$(bash -c 'source hack/kind/lib.sh && echo "$KIND_BIN"')"):$PATH"
fi

# kind writes its context into $KUBECONFIG (or ~/.kube/config) unless told where: the
# kubeconfig a user has exported for another cluster would lose its current context.
# kind only ever touches its own file.
if [[ "$STEP" == down ]]; then
  exec kind delete cluster --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG_PATH"
fi

for tool in docker kind; do
  command -v "$tool" >/dev/null || { echo "kind.sh: $tool is not on PATH" >&2; exit 1; }
done
[[ -x .venv/bin/python ]] || ./hack/setup.sh

if [[ "$STEP" == all || "$STEP" == cluster ]]; then
  mkdir -p "$(dirname "$KUBECONFIG_PATH")"
  if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    kind create cluster --name "$CLUSTER_NAME" --config kind-config.yaml \
      --kubeconfig "$KUBECONFIG_PATH" "${create_args[@]}"
  fi
  kind get kubeconfig --name "$CLUSTER_NAME" >"$KUBECONFIG_PATH"

  [[ -n "${KIND_SKIP_IMAGE_BUILD:-}" ]] || ./images/build.sh all
  # images/images.txt is the one list of the images the chart and the walk-through run.
  for image in $(awk '!/^#/ && NF {print $1}' images/images.txt); do
    kind load docker-image --name "$CLUSTER_NAME" "$image:$TAG"
  done
fi
[[ "$STEP" == all || "$STEP" == walkthrough ]] || exit 0

# The operator reads scoring pods through the API server's pod proxy, whose connections come
# from the control-plane node; a network plugin that applies NetworkPolicies to them (kind's
# kindnetd does) must be told that address (networkPolicies.apiServerCIDRs, docs/security.md).
if [[ -z "${MODELSERVE_API_SERVER_CIDRS:-}" ]]; then
  control_plane="$(docker inspect "$CLUSTER_NAME-control-plane" \
    --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' | awk '{print $1}')"
  export MODELSERVE_API_SERVER_CIDRS="$control_plane/32"
fi
MODELSERVE_IMAGE_TAG="$TAG" .venv/bin/python hack/walkthrough.py up --kubeconfig "$KUBECONFIG_PATH"
