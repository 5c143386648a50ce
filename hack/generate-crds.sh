#!/usr/bin/env bash
# Generate the CustomResourceDefinitions from the pydantic types in api/modelserve_api into
# crds/ and the Helm chart's crds/ (the types are the single source of the API's shape).
# `hack/generate-crds.sh --check` changes nothing and fails if a committed file differs.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$REPO_ROOT/.venv/bin/python}"

case "${1:-}" in
  "" | --check) ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

exec "$PYTHON" -m modelserve_api.crdgen ${1:+"$1"} "$REPO_ROOT/crds" "$REPO_ROOT/charts/modelserve/crds"
