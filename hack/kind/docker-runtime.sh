#!/usr/bin/env bash
# Make `docker run --privileged` work on a machine whose root lacks a capability in its
# bounding set (ours lack CAP_SYS_RESOURCE), which kind needs: its docker provider always
# passes --privileged, and Docker then asks runc for every capability it knows.
#
# Installs hack/kind/capbnd-runc (runc, minus the capabilities the bounding set lacks) as
# Docker's default runtime in /etc/docker/daemon.json, then reloads a running dockerd with
# SIGHUP (runtimes and default-runtime are reloadable: running containers and builds carry
# on) or starts one with hack/docker.sh. On a machine whose bounding set is complete it
# changes nothing.
#
#   hack/kind/docker-runtime.sh          # ensure (idempotent)
#   hack/kind/docker-runtime.sh --check  # only run the privileged test container
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RUNTIME_NAME=capbnd-runc
INSTALL_PATH=/usr/local/lib/modelserve/capbnd-runc
DAEMON_JSON=/etc/docker/daemon.json

privileged_ok() {
  # Any local image with a shell will do (kind's node image is the one that matters, but
  # this runs first); not just the newest image, which may be a FROM-scratch one.
  local image="" candidate
  for candidate in "local/debian-python:$DEBIAN_SUITE" "debian:$DEBIAN_SUITE-slim" "debian:$DEBIAN_SUITE"; do
    if docker image inspect "$candidate" >/dev/null 2>&1; then image="$candidate"; break; fi
  done
  if [[ -z "$image" ]]; then
    kind_log "no Debian image to test --privileged with; skipping the check"
    return 0
  fi
  docker run --rm --privileged --entrypoint /bin/sh "$image" -c 'grep CapEff /proc/self/status' >/dev/null
}

if [[ "${1:-}" == "--check" ]]; then
  privileged_ok && { echo "docker run --privileged: ok"; exit 0; }
  exit 1
fi

all_caps=$(( (1 << ($(cat /proc/sys/kernel/cap_last_cap) + 1)) - 1 ))
bnd=$(( 16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status) ))
if (( (bnd & all_caps) == all_caps )); then
  kind_log "the bounding set holds every capability; Docker's own runc is fine here"
  "$REPO_ROOT/hack/docker.sh"
  exit 0
fi
kind_log "root's bounding set lacks capabilities (CapBnd=$(printf %x "$bnd")); using $RUNTIME_NAME"

# Build (cached by source hash) and install the wrapper.
src_hash="$(source_hash capbnd-runc)"
built="$KIND_TOOLS_DIR/capbnd-runc-$src_hash"
if [[ ! -x "$built" ]]; then
  mkdir -p "$KIND_TOOLS_DIR"
  (cd "$KIND_ROOT/capbnd-runc" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$built.partial" .)
  mv "$built.partial" "$built"
fi
if ! cmp -s "$built" "$INSTALL_PATH"; then
  install -D -m 0755 "$built" "$INSTALL_PATH.new"
  mv "$INSTALL_PATH.new" "$INSTALL_PATH"
fi

# Merge our runtime into daemon.json, keeping whatever else is there.
mkdir -p "$(dirname "$DAEMON_JSON")"
changed="$(/usr/bin/python3 - "$DAEMON_JSON" "$RUNTIME_NAME" "$INSTALL_PATH" <<'PY'
import json, os, sys
path, name, binary = sys.argv[1:]
conf = {}
if os.path.exists(path):
    with open(path) as f:
        text = f.read().strip()
    conf = json.loads(text) if text else {}
want = dict(conf)
want.setdefault("runtimes", {})
want["runtimes"] = dict(want["runtimes"], **{name: {"path": binary}})
want["default-runtime"] = name
if want != conf:
    with open(path + ".new", "w") as f:
        json.dump(want, f, indent=2)
        f.write("\n")
    os.replace(path + ".new", path)
    print("yes")
PY
)"

if docker info >/dev/null 2>&1; then
  if [[ "$(docker info --format '{{.DefaultRuntime}}')" != "$RUNTIME_NAME" || -n "$changed" ]]; then
    pid="$(pidof dockerd | awk '{print $1}')"
    kind_log "reloading dockerd (pid $pid) with SIGHUP for the new default runtime"
    kill -HUP "$pid"
    for _ in $(seq 1 20); do
      [[ "$(docker info --format '{{.DefaultRuntime}}')" == "$RUNTIME_NAME" ]] && break
      sleep 0.5
    done
  fi
else
  "$REPO_ROOT/hack/docker.sh"
fi
default_runtime="$(docker info --format '{{.DefaultRuntime}}')"
if [[ "$default_runtime" != "$RUNTIME_NAME" ]]; then
  kind_log "dockerd's default runtime is still '$default_runtime'; restart dockerd to pick up $DAEMON_JSON"
  exit 1
fi
privileged_ok
echo "docker: default runtime $RUNTIME_NAME; docker run --privileged works"
