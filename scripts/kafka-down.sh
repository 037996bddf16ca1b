#!/usr/bin/env bash
# Stop the local Kafka broker started by scripts/kafka-up.sh and wipe its data.
# Keeps the jar cache (.kafka/libs). Safe to run when nothing is running.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KDIR="$ROOT/.kafka"
PIDFILE="$KDIR/kafka.pid"

log() { echo "[kafka-down] $*" >&2; }

is_our_broker() {
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka'
}

# Waits until pid $1 has exited: at most $2 checks, $3 seconds apart.
wait_exit() {
  local pid="$1" tries="$2" interval="$3" i
  for ((i = 0; i < tries; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep "$interval"
  done
}

if [[ -f "$PIDFILE" ]]; then
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if is_our_broker "$pid"; then
    log "stopping broker pid $pid (SIGTERM)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_exit "$pid" 40 0.5
    if kill -0 "$pid" 2>/dev/null; then
      log "broker pid $pid still alive after 20s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_exit "$pid" 20 0.25
    fi
    if kill -0 "$pid" 2>/dev/null; then
      log "ERROR: broker pid $pid did not exit"
      exit 1
    fi
    log "broker stopped"
  else
    log "no running broker for pid ${pid:-?} (stale pid file)"
  fi
else
  log "no pid file; nothing to stop"
fi

rm -f "$PIDFILE"
rm -rf "$KDIR/data"
log "removed $KDIR/data (jar cache kept in $KDIR/libs)"
