#!/usr/bin/env bash
# The benchmark behind the README's Performance table, in one run:
#  1. the product against the peers (../shared/peers: warp-limit, the ceiling,
#     and fastapi), side by side with ../shared/bench/compare.sh;
#  2. the product's list on a store holding 1,000,000 tasks of other users,
#     its peak memory over that run, and its start-to-ready time on that store.
#
#   bench/bench.sh [--duration 10s] [--background-tasks 1000000] [--skip-peers]
#
# Needs wrk and taskset (apt-get install -y wrk util-linux). Loopback only.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
SHARED="${SHARED:-$ROOT/../shared}"
DURATION=10s BG=1000000 PEERS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2;;
    --background-tasks) BG="$2"; shift 2;;
    --skip-peers) PEERS=0; shift;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2;;
  esac
done
command -v wrk >/dev/null || { echo "bench.sh: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }

cd "$ROOT"
cargo build --release -q -p taskserver
cargo build --release -q -p taskcore --example seed_store
# Cargo's target directory: target/ unless CARGO_TARGET_DIR says otherwise.
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
BIN="$TARGET_DIR/release/taskserver"
WORK="$(mktemp -d /tmp/taskserver-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export TASKSERVER_JWT_SECRET="bench-secret-0123456789abcdef0123456789abcdef"

if [ "$PEERS" = 1 ]; then
  echo "## 1. product against the peers ($DURATION per scenario)"
  "$SHARED/bench/compare.sh" --duration "$DURATION" \
    "warp-limit=$SHARED/peers/warp-limit/taskserver" \
    "taskserver=$BIN" \
    "fastapi=$SHARED/peers/fastapi/taskserver"
fi

# Starts the product pinned to CPU 1 on a data dir, behind peak-rss.sh; sets PID and URL.
launch() {
  local data="$1" log="$WORK/server.log"
  : > "$log"
  PEAK_FILE="$WORK/peak" taskset -c 1 "$HERE/peak-rss.sh" "$BIN" --listen 127.0.0.1:0 --data-dir "$data" \
    --auth-rate-limit off --max-tasks-per-user 10000000 > "$log" 2>"$WORK/server.err" &
  PID=$!
  URL=""
  for _ in $(seq 300); do
    URL="$(sed -n 's/^listening on //p' "$log" | head -1)"
    [ -n "$URL" ] && break
    sleep 0.02
  done
  [ -n "$URL" ] || { echo "server did not start:"; cat "$WORK/server.err"; exit 1; }
}
stop() { kill -TERM "$PID"; wait "$PID" || true; }

echo
echo "## 2. list with $BG tasks of other users in the store"
launch "$WORK/empty"
echo "# list on an empty store:"
"$SHARED/bench/run.sh" "$URL" --duration "$DURATION" --scenarios list --server-pid "$PID" | grep -v '^#'
stop

"$TARGET_DIR/release/examples/seed_store" "$WORK/big" 200 "$BG"
t0=$(date +%s.%N)
launch "$WORK/big"
until curl -sf "$URL/readyz" >/dev/null; do sleep 0.005; done
t1=$(date +%s.%N)
echo "# start to ready on the $BG-task store: $(python3 -c "print(f'{($t1-$t0)*1000:.0f} ms')")"
echo "# list with $BG other tasks stored:"
"$SHARED/bench/run.sh" "$URL" --duration "$DURATION" --scenarios "list get create update mixed" --server-pid "$PID" | grep -v '^#'
stop
echo "# peak server memory over that run: $(( $(cat "$WORK/peak") / 1024 )) MiB"
