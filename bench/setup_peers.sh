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
# The same boosters as the project's venv, so one model file gives the same trees everywhere.
XGBOOST_VERSION="3.2.0"
LIGHTGBM_VERSION="4.7.0"

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

# Adds packages to an existing venv once, under a marker of its own, so a venv made before the
# addition gets it too and a warm machine skips it.
add_to_venv() {
  local name="$1" marker="$2"
  shift 2
  local venv="$BENCH_CACHE/$name-venv"
  if [[ -f "$venv/.$marker-complete" ]]; then
    return
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  touch "$venv/.$marker-complete"
  echo "added $marker to $venv" >&2
}

mkdir -p "$BENCH_CACHE"
# uvloop 0.21: MLServer 1.7.1's inference workers call asyncio.get_event_loop() in a
# fresh process, which newer uvloop refuses ("There is no current event loop").
make_venv mlserver "mlserver==$MLSERVER_VERSION" "mlserver-sklearn==$MLSERVER_VERSION" \
  "scikit-learn==$SKLEARN_VERSION" "uvloop==0.21.0"
make_venv kserve "kserve==$KSERVE_VERSION" "scikit-learn==$SKLEARN_VERSION" joblib
# Gradient-boosted trees. mlserver-xgboost requires the `xgboost` wheel (CUDA build, with
# NCCL), which installs the same `xgboost` module as `xgboost-cpu`: install the CPU build,
# then the runtime without its dependencies (MLServer itself is already there).
for venv in mlserver kserve; do
  add_to_venv "$venv" gbm "xgboost-cpu==$XGBOOST_VERSION" "lightgbm==$LIGHTGBM_VERSION"
done
add_to_venv mlserver gbm-runtimes --no-deps "mlserver-xgboost==$MLSERVER_VERSION" \
  "mlserver-lightgbm==$MLSERVER_VERSION"
# The Python HTTP/2 servers bench/grpc_transports.py compares with grpcio (issue 21).
make_venv transports "uvicorn==0.55.0" "zttp==0.0.35" "hypercorn==0.18.0" "uvloop==0.23.0"
echo "$BENCH_CACHE"
