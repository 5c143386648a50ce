#!/usr/bin/env bash
# Phases with progress and a timing table, for hack/quickstart.sh and hack/test.sh.
#
#   source hack/lib/phases.sh
#   phase "images (scoring, router, operator)" ./images/build.sh all
#   phase_table            # one line per phase: seconds and status
#
# A phase that runs longer than PHASE_HEARTBEAT_S seconds says so every PHASE_HEARTBEAT_S
# seconds, with the time spent so far, so a cold machine never sits silent for minutes.

PHASE_HEARTBEAT_S="${PHASE_HEARTBEAT_S:-30}"
PHASES_STARTED=$(date +%s)
PHASE_NAMES=()
PHASE_SECONDS=()
PHASE_RESULTS=()

_phase_clock() {
  local seconds=$1
  if ((seconds >= 60)); then printf '%dm%02ds' $((seconds / 60)) $((seconds % 60)); else printf '%ds' "$seconds"; fi
}

_phase_heartbeat() {
  local name=$1 started=$2
  # $$ is the script itself: the heartbeat ends with it, even when it is interrupted.
  while sleep "$PHASE_HEARTBEAT_S" && kill -0 $$ 2>/dev/null; do
    echo "    ... $name: still running ($(_phase_clock $(($(date +%s) - started))))" >&2
  done
}

# phase NAME COMMAND...: run COMMAND as one timed phase; its exit status is returned.
phase() {
  local name=$1 started rc heartbeat errexit=
  shift
  [[ $- == *e* ]] && errexit=1
  started=$(date +%s)
  echo "==> [$(_phase_clock $((started - PHASES_STARTED)))] $name" >&2
  _phase_heartbeat "$name" "$started" &
  heartbeat=$!
  set +e
  "$@"
  rc=$?
  [[ -n $errexit ]] && set -e
  kill "$heartbeat" 2>/dev/null || true
  wait "$heartbeat" 2>/dev/null || true
  PHASE_NAMES+=("$name")
  PHASE_SECONDS+=($(($(date +%s) - started)))
  PHASE_RESULTS+=("$([[ $rc -eq 0 ]] && echo ok || echo "failed ($rc)")")
  return "$rc"
}

# phase_table: the timing table of every phase run so far, and the total.
phase_table() {
  local i total=$(($(date +%s) - PHASES_STARTED))
  echo
  printf '%-58s %9s  %s\n' "phase" "time" "result"
  for i in "${!PHASE_NAMES[@]}"; do
    printf '%-58s %9s  %s\n' "${PHASE_NAMES[$i]}" "$(_phase_clock "${PHASE_SECONDS[$i]}")" "${PHASE_RESULTS[$i]}"
  done
  printf '%-58s %9s\n' "total" "$(_phase_clock "$total")"
}
