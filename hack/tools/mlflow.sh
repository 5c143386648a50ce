#!/usr/bin/env bash
# Install the MLflow tracking server the storage tests start, once, and print its `mlflow`.
#
# MLflow lives in its own venv, never in .venv: it pins many libraries of its own. The venv
# is cached under ~/.cache/modelserve/mlflow-<version>-r<recipe>, so a warm machine returns
# at once. scikit-learn is pinned to the version the tests' serving code runs (.venv), so a
# model the tests log with this venv's python unpickles in the scoring server.
# Usage: hack/tools/mlflow.sh [python]   (python: the interpreter to build the venv from)
set -euo pipefail
MLFLOW_VERSION=3.17.2
RECIPE=2
repo="$(cd "$(dirname "$0")/../.." && pwd)"
python="${1:-$repo/.venv/bin/python}"
[[ -x "$python" ]] || { echo "no python at $python: run ./hack/setup.sh first" >&2; exit 2; }
sklearn="$("$python" -c 'import sklearn; print(sklearn.__version__)')"
py="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
venv="${MODELSERVE_CACHE:-$HOME/.cache/modelserve}/mlflow-${MLFLOW_VERSION}-py${py}-sklearn${sklearn}-r${RECIPE}"
if [[ ! -x "$venv/bin/mlflow" ]]; then
  # One install at a time (a test harness and hack/test.sh may ask at once); the second
  # waits for the first, then finds the venv installed.
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
fi
if [[ ! -x "$venv/bin/mlflow" ]]; then
  echo "installing mlflow $MLFLOW_VERSION into $venv (once per machine)" >&2
  base="$("$python" -c 'import sys; print(sys.base_prefix)')/bin/python$py"
  rm -rf "$venv.partial"
  "$base" -m venv "$venv.partial"
  # boto3: the server writes artifacts to the S3 store with it; auth: its basic-auth app,
  # which the tests start to check refused credentials
  "$venv.partial/bin/pip" install --quiet --disable-pip-version-check \
    "mlflow[auth]==$MLFLOW_VERSION" "scikit-learn==$sklearn" "boto3>=1.34"
  rm -rf "$venv"
  mv "$venv.partial" "$venv"
  # a venv's scripts name its folder in their shebangs: rewrite them for the final path
  grep -rlI --null "$venv.partial" "$venv/bin" | xargs -0 -r sed -i "s#$venv.partial#$venv#g"
fi
echo "$venv/bin/mlflow"
