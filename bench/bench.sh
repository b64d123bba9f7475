#!/usr/bin/env bash
# The benchmark behind the README's Performance table, in one run:
#  1. the product against the peers ($PEERS/peers: warp-limit, the ceiling,
#     and fastapi), side by side with $PEERS/bench/compare.sh;
#     then list-filtered (bench/list-filtered.sh: a new filter and sort on
#     every request, so no page comes from the first-page cache) and
#     list-project (the same with a project filter on every request)
#     against warp-limit and the product;
#  2. the product's list on a store holding 1,000,000 tasks of other users,
#     its peak memory over that run, and its start-to-ready time on that store;
#  3. the memory target's run (bench/memory.py), on one core and on two:
#     1,000 users registered from 16 threads, the tasks loaded through HTTP,
#     the scenarios; the resident set per phase and the peak.
#
#   bench/bench.sh --peers DIR [--duration 10s] [--background-tasks 1000000] [--skip-peers]
#                  [--skip-memory]
#
# DIR (or the environment variable PEERS) is the directory that holds the
# wrk harness (bench/compare.sh, bench/run.sh, bench/setup.py, bench/lua/)
# and the peer servers (peers/warp-limit/taskserver, peers/fastapi/taskserver).
# They are not part of this repository; step 2 needs the harness too.
#
# Needs wrk, taskset and python3 (apt-get install -y wrk util-linux python3).
# Loopback only.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PEERS="${PEERS:-}"
DURATION=10s BG=1000000 WITH_PEERS=1 WITH_MEMORY=1
while [ $# -gt 0 ]; do
  case "$1" in
    --peers) PEERS="$2"; shift 2;;
    --duration) DURATION="$2"; shift 2;;
    --background-tasks) BG="$2"; shift 2;;
    --skip-peers) WITH_PEERS=0; shift;;
    --skip-memory) WITH_MEMORY=0; shift;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2;;
  esac
done
if [ -z "$PEERS" ] || [ ! -x "$PEERS/bench/run.sh" ]; then
  echo "bench.sh: give the directory of the wrk harness and the peer servers with --peers DIR or PEERS=DIR" >&2
  echo "  (it must hold bench/compare.sh, bench/run.sh, bench/setup.py, bench/lua/ and peers/; they are not in this repository)" >&2
  exit 2
fi
PEERS="$(cd "$PEERS" && pwd)"
command -v wrk >/dev/null || { echo "bench.sh: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }

cd "$ROOT"
cargo build --release -q -p taskserver
cargo build --release -q -p taskcore --example seed_store
# Where cargo puts the binaries (CARGO_TARGET_DIR and config included).
TARGET="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
BIN="$TARGET/release/taskserver"
WORK="$(mktemp -d -t taskserver-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export TASKSERVER_JWT_SECRET="bench-secret-0123456789abcdef0123456789abcdef"

if [ "$WITH_PEERS" = 1 ]; then
  echo "## 1. product against the peers ($DURATION per scenario)"
  "$PEERS/bench/compare.sh" --duration "$DURATION" \
    "warp-limit=$PEERS/peers/warp-limit/taskserver" \
    "taskserver=$BIN" \
    "fastapi=$PEERS/peers/fastapi/taskserver"
fi

# Starts a server (the product unless a second argument names another)
# pinned to CPU 1 on a data dir, behind peak-rss.sh; sets PID and URL.
launch() {
  local data="$1" bin="${2:-$BIN}" log="$WORK/server.log"
  : > "$log"
  PEAK_FILE="$WORK/peak" taskset -c 1 "$HERE/peak-rss.sh" "$bin" --listen 127.0.0.1:0 --data-dir "$data" \
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

if [ "$WITH_PEERS" = 1 ]; then
  echo
  echo "## 1b. list-filtered: a new filter and sort on every request, 8 users of 50 tasks ($DURATION)"
  for server in "warp-limit=$PEERS/peers/warp-limit/taskserver" "taskserver=$BIN"; do
    launch "$WORK/filtered-${server%%=*}" "${server#*=}"
    echo "# ${server%%=*}:"
    "$HERE/list-filtered.sh" "$URL" --harness "$PEERS" --duration "$DURATION" --server-pid "$PID" | grep -v '^#'
    stop
  done
  echo
  echo "## 1c. list-project: a project filter (and a new sort) on every request, 8 users of 50 tasks in projects ($DURATION)"
  for server in "warp-limit=$PEERS/peers/warp-limit/taskserver" "taskserver=$BIN"; do
    launch "$WORK/project-${server%%=*}" "${server#*=}"
    echo "# ${server%%=*}:"
    "$HERE/list-filtered.sh" "$URL" --harness "$PEERS" --duration "$DURATION" --server-pid "$PID" --projects | grep -v '^#'
    stop
  done
fi

echo
echo "## 2. list with $BG tasks of other users in the store"
launch "$WORK/empty"
echo "# list on an empty store:"
"$PEERS/bench/run.sh" "$URL" --duration "$DURATION" --scenarios list --server-pid "$PID" | grep -v '^#'
stop

"$TARGET/release/examples/seed_store" "$WORK/big" 200 "$BG"
t0=$(date +%s.%N)
launch "$WORK/big"
until curl -sf "$URL/readyz" >/dev/null; do sleep 0.005; done
t1=$(date +%s.%N)
echo "# start to ready on the $BG-task store: $(python3 -c "print(f'{($t1-$t0)*1000:.0f} ms')")"
echo "# list with $BG other tasks stored:"
"$PEERS/bench/run.sh" "$URL" --duration "$DURATION" --scenarios "list get create update mixed" --server-pid "$PID" | grep -v '^#'
"$HERE/list-filtered.sh" "$URL" --harness "$PEERS" --duration "$DURATION" --server-pid "$PID" | grep -v '^#'
stop
echo "# peak server memory over that run: $(( $(cat "$WORK/peak") / 1024 )) MiB"

if [ "$WITH_MEMORY" = 1 ]; then
  echo
  echo "## 3. memory: 1,000 users registered from 16 threads, $BG tasks loaded through HTTP, then the scenarios"
  for cores in 1 2; do
    python3 "$HERE/memory.py" --server "$BIN" --cores "$cores" --tasks "$BG" --harness "$PEERS" --duration "$DURATION"
  done
fi
