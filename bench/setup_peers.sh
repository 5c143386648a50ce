#!/usr/bin/env bash
# Creates the peer servers' venvs (MLServer, KServe) once, with pinned versions,
# under a versioned cache directory; a warm machine skips the install.
set -euo pipefail

BENCH_CACHE="${MODELSERVE_BENCH_CACHE:-$HOME/.cache/modelserve/bench-r1}"
PYTHON="${PYTHON:-python3}"
# The same scikit-learn as the project's venv, so one joblib artifact loads identically.
SKLEARN_VERSION="${SKLEARN_VERSION:-1.9.1}"
MLSERVER_VERSION="1.7.1"
KSERVE_VERSION="0.21.0"

make_venv() {
  local name="$1"
  shift
  local venv="$BENCH_CACHE/$name-venv"
  if [[ -f "$venv/.complete" ]]; then
    return
  fi
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  touch "$venv/.complete"
  echo "installed $name into $venv" >&2
}

mkdir -p "$BENCH_CACHE"
# uvloop 0.21: MLServer 1.7.1's inference workers call asyncio.get_event_loop() in a
# fresh process, which newer uvloop refuses ("There is no current event loop").
make_venv mlserver "mlserver==$MLSERVER_VERSION" "mlserver-sklearn==$MLSERVER_VERSION" \
  "scikit-learn==$SKLEARN_VERSION" "uvloop==0.21.0"
make_venv kserve "kserve==$KSERVE_VERSION" "scikit-learn==$SKLEARN_VERSION" joblib
echo "$BENCH_CACHE"
