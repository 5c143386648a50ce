#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install it from Debian and start it if needed.
#
# Nothing on our build machines starts dockerd (there is no init system), so this script
# starts it in the background with its pid file and log under ~/.modelserve/docker/.
# It is idempotent: when an engine already answers, it only says so.
set -euo pipefail

STATE_DIR="${MODELSERVE_DOCKER_STATE:-$HOME/.modelserve/docker}"
PID_FILE="$STATE_DIR/dockerd.pid"
LOG_FILE="$STATE_DIR/dockerd.log"
READY_TIMEOUT_S="${MODELSERVE_DOCKER_TIMEOUT:-60}"

engine_answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
  echo "docker: engine already running"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "docker: no engine answers and this script needs root to install or start one" >&2
  exit 1
fi

need_packages=()
command -v dockerd >/dev/null 2>&1 || need_packages+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_packages+=(debootstrap)
if [[ ${#need_packages[@]} -gt 0 ]]; then
  echo "docker: installing ${need_packages[*]} from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  # An install fails on stale package lists, so refresh them first.
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need_packages[@]}" >/dev/null
fi

mkdir -p "$STATE_DIR"
if [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  echo "docker: dockerd (pid $(cat "$PID_FILE")) is starting; waiting for it" >&2
else
  # dockerd writes its own pid file too (/var/run/docker.pid); a stale one blocks the start.
  if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  echo "docker: starting dockerd (log: $LOG_FILE)" >&2
  nohup dockerd >>"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
fi

deadline=$((SECONDS + READY_TIMEOUT_S))
until engine_answers; do
  if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    echo "docker: dockerd exited during start-up; last lines of $LOG_FILE:" >&2
    tail -n 20 "$LOG_FILE" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "docker: dockerd did not answer within ${READY_TIMEOUT_S}s; see $LOG_FILE" >&2
    exit 1
  fi
  sleep 0.5
done
echo "docker: engine ready (dockerd pid $(cat "$PID_FILE"))"
