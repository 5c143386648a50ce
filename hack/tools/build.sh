#!/usr/bin/env bash
# Build a Go test tool under hack/tools/<name> once and print the binary's path.
#
# The binary is cached under ~/.cache/modelserve/tools-r1/, keyed by a digest of the
# tool's sources, so a warm machine returns at once and an edited tool is rebuilt.
# Usage: hack/tools/build.sh kstatus
set -euo pipefail
name="${1:?usage: $0 <tool>}"
source_dir="$(cd "$(dirname "$0")" && pwd)/$name"
[[ -f "$source_dir/go.mod" ]] || { echo "no Go tool at $source_dir" >&2; exit 2; }
RECIPE=1
digest="$(cat "$source_dir"/go.mod "$source_dir"/go.sum "$source_dir"/*.go | sha256sum | cut -c1-16)"
out_dir="${MODELSERVE_CACHE:-$HOME/.cache/modelserve}/tools-r${RECIPE}"
binary="$out_dir/$name-$digest"
if [[ ! -x "$binary" ]]; then
  mkdir -p "$out_dir"
  echo "building $name from Go modules (once per machine)" >&2
  (cd "$source_dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod \
    go build -trimpath -ldflags "-s -w" -o "$binary.partial" .)
  mv "$binary.partial" "$binary"
fi
echo "$binary"
