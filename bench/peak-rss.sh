#!/usr/bin/env bash
# Runs a server and, when it is told to stop (SIGTERM/SIGINT), writes its peak
# resident memory (VmHWM, KiB) to $PEAK_FILE before passing the signal on.
#   PEAK_FILE=peak.txt bench/peak-rss.sh SERVER [ARGS...]
set -u
"$@" &
child=$!
stop() {
  awk '/VmHWM/ {print $2}' "/proc/$child/status" > "${PEAK_FILE:-/dev/stderr}" 2>/dev/null
  kill -TERM "$child" 2>/dev/null
}
trap stop TERM INT
wait "$child"; wait "$child"
