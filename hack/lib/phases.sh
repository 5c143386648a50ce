#!/usr/bin/env bash
# Phases with progress and a timing table, for hack/quickstart.sh and hack/test.sh.
#
#   source hack/lib/phases.sh
#   phase "images (scoring, router, operator)" ./images/build.sh all
#   phase_start "binaries" ./cluster/build-binaries.sh   # runs beside the next phases
#   phase_wait "binaries"  # waits for it; on failure, prints the end of its log
#   phase_table            # one line per phase: seconds and status
#
# A phase that runs longer than PHASE_HEARTBEAT_S seconds says so every PHASE_HEARTBEAT_S
# seconds, with the time spent so far, so a cold machine never sits silent for minutes.

PHASE_HEARTBEAT_S="${PHASE_HEARTBEAT_S:-30}"
PHASES_STARTED=$(date +%s)
PHASE_NAMES=()
PHASE_SECONDS=()
PHASE_RESULTS=()
declare -A PHASE_BACKGROUND_PID PHASE_BACKGROUND_HEARTBEAT PHASE_BACKGROUND_STARTED PHASE_BACKGROUND_LOG

_phase_clock() {
  local seconds=$1
  if ((seconds >= 60)); then printf '%dm%02ds' $((seconds / 60)) $((seconds % 60)); else printf '%ds' "$seconds"; fi
}

# _phase_heartbeat NAME STARTED [PID]: while the script (and PID, if given) runs, say so.
_phase_heartbeat() {
  local name=$1 started=$2 watched=${3:-$$}
  # Stopped by its phase's end: take the sleep along, which would otherwise linger with
  # the script's output still open (a caller reading it would wait for that sleep).
  trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM
  # $$ is the script itself: the heartbeat ends with it, even when it is interrupted; a
  # background phase's heartbeat also ends with that phase, before anyone waits for it.
  while kill -0 $$ 2>/dev/null && kill -0 "$watched" 2>/dev/null; do
    sleep "$PHASE_HEARTBEAT_S" &
    wait $!
    kill -0 $$ 2>/dev/null && kill -0 "$watched" 2>/dev/null || break
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
  _phase_record "$name" "$started" "$rc"
  return "$rc"
}

# phase_start NAME COMMAND...: start COMMAND as a phase that runs beside the phases after
# it, its output in a log file; phase_wait NAME ends it. For work that waits on the network
# or the disk while another phase keeps the CPUs busy.
phase_start() {
  local name=$1 started log
  shift
  started=$(date +%s)
  log="$(mktemp -t "modelserve-phase.XXXXXX.log")"
  echo "==> [$(_phase_clock $((started - PHASES_STARTED)))] $name (in the background; log: $log)" >&2
  # Its own process group, so that an early exit can stop all of it (see phase_table). It
  # writes the time it ended beside its log: the table shows how long it ran, not how long
  # until someone waited for it.
  setsid bash -c '"$@"; rc=$?; date +%s >"$0.ended"; exit $rc' "$log" "$@" >"$log" 2>&1 &
  PHASE_BACKGROUND_PID[$name]=$!
  _phase_heartbeat "$name" "$started" "${PHASE_BACKGROUND_PID[$name]}" &
  PHASE_BACKGROUND_HEARTBEAT[$name]=$!
  PHASE_BACKGROUND_STARTED[$name]=$started
  PHASE_BACKGROUND_LOG[$name]=$log
}

# phase_wait NAME: wait for a phase_start'ed phase and record it; its exit status is returned.
phase_wait() {
  local name=$1 rc errexit=
  [[ $- == *e* ]] && errexit=1
  echo "==> [$(_phase_clock $(($(date +%s) - PHASES_STARTED)))] waiting for: $name" >&2
  set +e
  wait "${PHASE_BACKGROUND_PID[$name]}"
  rc=$?
  [[ -n $errexit ]] && set -e
  _phase_record_background "$name" "$rc"
  if [[ $rc -ne 0 ]]; then
    echo "==> $name failed (exit $rc); the end of ${PHASE_BACKGROUND_LOG[$name]}:" >&2
    tail -n 40 "${PHASE_BACKGROUND_LOG[$name]}" >&2
  fi
  return "$rc"
}

_phase_record_background() {
  local name=$1 rc=$2 ended log=${PHASE_BACKGROUND_LOG[$name]}
  kill "${PHASE_BACKGROUND_HEARTBEAT[$name]}" 2>/dev/null || true
  wait "${PHASE_BACKGROUND_HEARTBEAT[$name]}" 2>/dev/null || true
  ended="$(cat "$log.ended" 2>/dev/null || date +%s)"
  rm -f "$log.ended"
  _phase_record "$name (background)" "${PHASE_BACKGROUND_STARTED[$name]}" "$rc" "$ended"
  unset "PHASE_BACKGROUND_PID[$name]"
}

# _phase_record NAME STARTED RC [ENDED]: one line of the table; RC is an exit status or
# "stopped"; ENDED (epoch seconds) defaults to now.
_phase_record() {
  local name=$1 started=$2 rc=$3 ended=${4:-$(date +%s)}
  PHASE_NAMES+=("$name")
  PHASE_SECONDS+=($((ended - started)))
  case "$rc" in
    0) PHASE_RESULTS+=(ok) ;;
    stopped) PHASE_RESULTS+=("stopped: an earlier phase failed") ;;
    *) PHASE_RESULTS+=("failed ($rc)") ;;
  esac
}

# phase_table: the timing table of every phase run so far, and the total.
phase_table() {
  local i name total=$(($(date +%s) - PHASES_STARTED))
  # A background phase nobody waited for (an earlier phase failed) must not outlive us.
  for name in "${!PHASE_BACKGROUND_PID[@]}"; do
    kill -- "-${PHASE_BACKGROUND_PID[$name]}" 2>/dev/null || true
    _phase_record_background "$name" stopped
  done
  local width=5
  for name in "${PHASE_NAMES[@]}"; do ((${#name} > width)) && width=${#name}; done
  echo
  printf '%-*s %9s  %s\n' "$width" "phase" "time" "result"
  for i in "${!PHASE_NAMES[@]}"; do
    printf '%-*s %9s  %s\n' "$width" "${PHASE_NAMES[$i]}" "$(_phase_clock "${PHASE_SECONDS[$i]}")" "${PHASE_RESULTS[$i]}"
  done
  printf '%-*s %9s\n' "$width" "total" "$(_phase_clock "$total")"
}
