#!/usr/bin/env bash
# Build a Go test tool under hack/tools/<name> once and print the binary's path.
#
# The binary is cached under ~/.cache/modelserve/tools-r1/, keyed by a digest of the
# tool's sources, so a warm machine returns at once and an edited tool is rebuilt.
# A directory with Go files is built as a program (kstatus); one with only a go.mod builds
# the `tool` its go.mod names, at the version it pins (ghz).
# Usage: hack/tools/build.sh kstatus | ghz | seaweedfs
set -euo pipefail
name="${1:?usage: $0 <tool>}"
source_dir="$(cd "$(dirname "$0")" && pwd)/$name"
[[ -f "$source_dir/go.mod" ]] || { echo "no Go tool at $source_dir" >&2; exit 2; }
RECIPE=1
shopt -s nullglob
go_files=("$source_dir"/*.go)
target=.
if ((${#go_files[@]} == 0)); then
  target="$(awk '$1 == "tool" {print $2; exit}' "$source_dir/go.mod")"
  [[ -n "$target" ]] || { echo "$source_dir has neither Go files nor a tool" >&2; exit 2; }
fi
digest="$(cat "$source_dir"/go.mod "$source_dir"/go.sum "${go_files[@]}" | sha256sum | cut -c1-16)"
out_dir="${MODELSERVE_CACHE:-$HOME/.cache/modelserve}/tools-r${RECIPE}"
binary="$out_dir/$name-$digest"
if [[ ! -x "$binary" ]]; then
  mkdir -p "$out_dir"
  # A test harness and hack/test.sh may ask for the same tool at once (CI builds the tools
  # beside the tests): the second waits for the first, then finds the binary built.
  exec 9>"$binary.lock"
  flock 9
  if [[ ! -x "$binary" ]]; then
    echo "building $name from Go modules (once per machine)" >&2
    (cd "$source_dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod \
      go build -trimpath -ldflags "-s -w" -o "$binary.partial" "$target")
    mv "$binary.partial" "$binary"
  fi
fi
echo "$binary"
