#!/usr/bin/env bash
# Generate the descriptor of the v2 gRPC protocol (serving-image/modelserve_scoring/v2grpc/
# inference.binpb) from inference.proto with grpcio-tools' protoc (the dev group pins it).
# `hack/generate-grpc.sh --check` changes nothing and fails if the committed file differs.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$REPO_ROOT/.venv/bin/python}"
PROTO_DIR="$REPO_ROOT/serving-image/modelserve_scoring/v2grpc"

case "${1:-}" in
  "" | --check) ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
"$PYTHON" -m grpc_tools.protoc --proto_path="$PROTO_DIR" --descriptor_set_out="$out" \
  inference.proto
if [[ "${1:-}" == --check ]]; then
  cmp -s "$out" "$PROTO_DIR/inference.binpb" || {
    echo "$PROTO_DIR/inference.binpb is stale: run hack/generate-grpc.sh" >&2
    exit 1
  }
else
  install -m 644 "$out" "$PROTO_DIR/inference.binpb"
fi
