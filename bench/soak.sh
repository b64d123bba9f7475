#!/usr/bin/env bash
# Soak: mixed load (40% list, 40% get, 10% create, 10% update) for a long
# time against the release build, sampling the server's memory; fails on
# any error response or socket error. Not run in CI.
#
#   bench/soak.sh [--duration 10m] [--connections 64]
#
# Prints the resident memory every 30 s, and at the end the wrk summary and
# the growth from the first sample after warm-up to the last.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
SHARED="${SHARED:-$ROOT/../shared}"
DURATION=10m CONNS=64
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2;;
    --connections) CONNS="$2"; shift 2;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2;;
  esac
done
command -v wrk >/dev/null || { echo "soak.sh: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
cd "$ROOT"
cargo build --release -q -p taskserver
WORK="$(mktemp -d /tmp/taskserver-soak.XXXXXX)"
export TASKSERVER_JWT_SECRET="soak-secret-0123456789abcdef0123456789abcdef"
# Cargo's target directory: target/ unless CARGO_TARGET_DIR says otherwise.
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
"$TARGET_DIR/release/taskserver" --listen 127.0.0.1:0 --data-dir "$WORK/data" --auth-rate-limit off \
  --max-tasks-per-user 100000000 > "$WORK/out" 2> "$WORK/err" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 200); do URL="$(sed -n 's/^listening on //p' "$WORK/out")"; [ -n "$URL" ] && break; sleep 0.05; done
OUT="$(python3 "$SHARED/bench/setup.py" "$URL")"
export BENCH_TOKEN="$(sed -n 's/^TOKEN=//p' <<<"$OUT")" BENCH_IDS="$(sed -n 's/^IDS=//p' <<<"$OUT")"
export BENCH_LUA_DIR="$SHARED/bench/lua"
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$PID/status"; }
echo "# soak: $DURATION of mixed load, $CONNS connections, against $URL"
(cd "$SHARED/bench/lua" && wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s mixed.lua "$URL" > "$WORK/wrk" 2>&1) &
WRK=$!
FIRST="" LAST=""
while kill -0 $WRK 2>/dev/null; do
  sleep 30
  kill -0 $WRK 2>/dev/null || break
  LAST=$(rss); [ -n "$FIRST" ] || FIRST=$LAST
  echo "$(date -u +%H:%M:%S) rss=${LAST} MiB"
done
wait $WRK
sed -n 's/^RESULT //p' "$WORK/wrk"
grep -E "Requests/sec|Non-2xx|Socket errors" "$WORK/wrk" || true
echo "# memory: ${FIRST} MiB at the first sample (30 s), ${LAST} MiB at the last; peak $(awk '/VmHWM/ {print int($2/1024)}' /proc/$PID/status) MiB"
if grep -qE "Non-2xx|Socket errors" "$WORK/wrk"; then echo "# FAILED: errors under load"; exit 1; fi
