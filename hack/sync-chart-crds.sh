#!/usr/bin/env bash
# Copy the CRDs (crds/*.yaml, the single source of truth) into the Helm chart's crds/.
# `hack/sync-chart-crds.sh --check` changes nothing and fails if the copies differ.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOURCE="$REPO_ROOT/crds"
TARGET="$REPO_ROOT/charts/modelserve/crds"

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

stale=()
for crd in "$SOURCE"/*.yaml; do
  copy="$TARGET/$(basename "$crd")"
  cmp -s "$crd" "$copy" || stale+=("$(basename "$crd")")
done
# A copy whose source was removed would still be installed by Helm.
for copy in "$TARGET"/*.yaml; do
  [[ -e "$copy" ]] || continue
  [[ -e "$SOURCE/$(basename "$copy")" ]] || stale+=("$(basename "$copy") (no longer in crds/)")
done

if [[ $check == 1 ]]; then
  if [[ ${#stale[@]} -gt 0 ]]; then
    printf 'charts/modelserve/crds/ is out of date: %s\nrun hack/sync-chart-crds.sh\n' "${stale[*]}" >&2
    exit 1
  fi
  exit 0
fi

mkdir -p "$TARGET"
for copy in "$TARGET"/*.yaml; do
  [[ -e "$copy" ]] || continue
  [[ -e "$SOURCE/$(basename "$copy")" ]] || rm -f "$copy"
done
sources=("$SOURCE"/*.yaml)
cp "${sources[@]}" "$TARGET"/
echo "copied ${#sources[@]} CRDs into charts/modelserve/crds/"
