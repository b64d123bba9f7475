#!/usr/bin/env bash
# The change feed's cost on a big store: does an incremental read cost the
# same with 1,000,000 tasks stored as with none? (docs/api.md: a call reads
# only what changed since its cursor, an index range.)
#
#   bench/feed-cost.sh [--tasks 1000000] [--duration 10s] [--connections 64] [--rounds 2]
#
# For each of two stores, one user holding --tasks tasks ("big") and one
# user holding none ("empty"), both loaded with `taskserver import` from an
# export that bench/make_export.py writes (no HTTP, no password hashing; the
# user's credential is an API token in the export):
#  1. start the server on it (pinned to CPU 1) and time start to ready;
#  2. walk a full sync (GET /api/changes?limit=1000 until `more` is false),
#     timed: its last cursor is the cursor after the seed;
#  3. make 10 writes through the API: create 8 tasks, update the first,
#     delete the second (so the feed after the cursor holds 8 changes: 7
#     tasks and a deletion);
#  4. wrk (CPU 0, 1 thread, lua/changes.lua) on GET /api/changes?since=<that
#     cursor>, the same incremental read on every request.
# Both servers stay up; the wrk runs alternate big, empty, for --rounds
# rounds, so both see the same load of the machine. On the big store it
# also times the first page of a full sync (GET /api/changes?limit=500).
# Then the big store's server is restarted and the rounds run again: the
# first set measures a process that has just carried a full sync of every
# task (as a server does that clients sync from), the second one a process
# that has not, so a cost of the store's size can be told from a cost of
# the process's state. Each run also gives the server's CPU time per
# request (/proc and its /metrics), steadier than req/s on a machine that
# others load. Prints one line per wrk run and a table with the ratios.
#
# Needs wrk, taskset, curl and python3 (apt-get install -y wrk util-linux
# curl python3). Loopback only. Temporary stores go under $TMPDIR and are
# removed at exit, servers included.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
TASKS=1000000 DURATION=10s CONNS=64 ROUNDS=2 WARMUP=3s
while [ $# -gt 0 ]; do
  case "$1" in
    --tasks) TASKS="$2"; shift 2;;
    --duration) DURATION="$2"; shift 2;;
    --connections) CONNS="$2"; shift 2;;
    --rounds) ROUNDS="$2"; shift 2;;
    -h|--help) sed -n 2,32p "$0"; exit 0;;
    *) echo "feed-cost.sh: unknown argument $1" >&2; exit 2;;
  esac
done
for tool in wrk taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "feed-cost.sh: $tool is missing" >&2; exit 1; }
done

cd "$ROOT"
cargo build --release -q -p taskserver
TARGET="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
BIN="$TARGET/release/taskserver"
WORK="$(mktemp -d -t taskserver-feed-cost.XXXXXX)"
declare -A PID URL TOKEN CURSOR
cleanup() {
  for name in "${!PID[@]}"; do
    kill -TERM "${PID[$name]}" 2>/dev/null || true
    wait "${PID[$name]}" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
export TASKSERVER_JWT_SECRET="bench-secret-0123456789abcdef0123456789abcdef"

echo "# feed-cost.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# pinning: servers on CPU 1, wrk on CPU 0 (1 thread); wrk -t1 -c$CONNS -d$DURATION after a $WARMUP warm-up"

rss_mib() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# Starts the server on the store of $1 (pinned to CPU 1); sets PID and URL.
launch() {
  local name="$1" dir="$WORK/$1" t0 t1
  t0=$(date +%s.%N)
  : >"$dir/server.log"  # read below before the server may have opened it
  taskset -c 1 "$BIN" --listen 127.0.0.1:0 --data-dir "$dir/data" --auth-rate-limit off \
    --max-tasks-per-user 10000000 >"$dir/server.log" 2>"$dir/server.err" &
  PID[$name]=$!
  local url=""
  for _ in $(seq 600); do
    url="$(sed -n 's/^listening on //p' "$dir/server.log" | head -1)"
    [ -n "$url" ] && break
    kill -0 "${PID[$name]}" 2>/dev/null || break
    sleep 0.02
  done
  [ -n "$url" ] || { echo "feed-cost.sh: the server on $name did not start:" >&2; tail -5 "$dir/server.err" >&2; exit 1; }
  until curl -sf "$url/readyz" >/dev/null; do sleep 0.005; done
  t1=$(date +%s.%N)
  URL[$name]="$url"
  echo "# $name: start to ready $(python3 -c "print(f'{($t1-$t0)*1000:.0f} ms')"), RSS $(rss_mib "${PID[$name]}") MiB"
}

# Loads a store of one user with $2 tasks and starts a server on it.
prepare() {
  local name="$1" tasks="$2" dir="$WORK/$1"
  mkdir -p "$dir"
  python3 "$HERE/make_export.py" "$dir/export.jsonl" --users 1 --tasks-per-user "$tasks" --tokens-out "$dir/token"
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" import --data-dir "$dir/data" --in "$dir/export.jsonl" | sed 's/^/# /' | grep -v 'created a new store'
  t1=$(date +%s.%N)
  rm -f "$dir/export.jsonl"
  echo "# $name: import of $tasks tasks took $(python3 -c "print(f'{$t1-$t0:.1f} s')")"
  TOKEN[$name]="$(cat "$dir/token")"
  launch "$name"
  local url="${URL[$name]}"
  # The full sync, then the 10 writes; prints the cursor after the seed.
  CURSOR[$name]="$(python3 - "$url" "${TOKEN[$name]}" "$tasks" "$name" <<'PY'
import json, sys, time, urllib.request
base, token, expected, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=auth)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")

started, pages, seen, cursor = time.monotonic(), 0, 0, None
while True:
    page = call("GET", "/api/changes?limit=1000" + (f"&since={cursor}" if cursor else ""))
    pages, seen, cursor = pages + 1, seen + len(page["changes"]), page["cursor"]
    if not page["more"]:
        break
took = time.monotonic() - started
if seen != expected:
    sys.exit(f"feed-cost.sh: the full sync of {name} returned {seen} tasks, not {expected}")
print(f"# {name}: full sync of {seen} tasks in {pages} pages of 1000: {took:.1f} s "
      f"({seen / took:.0f} tasks/s)", file=sys.stderr)
created = [call("POST", "/api/tasks", {"title": f"feed bench write {i}", "tags": ["feed"]})["id"]
           for i in range(8)]
call("PATCH", f"/api/tasks/{created[0]}", {"title": "feed bench write 0, updated"})
req = urllib.request.Request(f"{base}/api/tasks/{created[1]}", method="DELETE", headers=auth)
urllib.request.urlopen(req, timeout=60).read()
page = call("GET", f"/api/changes?since={cursor}")
kinds = [c["type"] for c in page["changes"]]
if kinds.count("task") != 7 or kinds.count("task_deleted") != 1 or page["more"]:
    sys.exit(f"feed-cost.sh: after 10 writes the feed of {name} holds {kinds}, more={page['more']}")
print(cursor)
PY
)"
}

prepare big "$TASKS"
prepare empty 0
echo "# after the 10 writes on each, GET /api/changes?since=<cursor after the seed> answers 8 changes (7 tasks, 1 deletion)"

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
answered() { curl -sf "$1/metrics" | awk '/^taskserver_requests_total/ { n += $2 } END { print n + 0 }'; }

# One wrk run (after its warm-up) against the server of $1; prints its
# RESULT line under LABEL, with the server's CPU time per request answered
# during the run: on a machine others load, it moves less than req/s.
measure() {
  local name="$1" label="$2" query="$3" res t0 t1 n0 n1
  export BENCH_TOKEN="${TOKEN[$name]}" BENCH_QUERY="$query"
  taskset -c 0 wrk -t1 -c"$CONNS" -d"$WARMUP" -s "$HERE/lua/changes.lua" "${URL[$name]}" >/dev/null 2>&1 || true
  t0=$(ticks "${PID[$name]}"); n0=$(answered "${URL[$name]}")
  res="$(taskset -c 0 wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$HERE/lua/changes.lua" "${URL[$name]}" 2>&1 | sed -n 's/^RESULT //p')"
  [ -n "$res" ] || res="req/s=0 p50_ms=NaN p99_ms=NaN non2xx=NaN (wrk failed)"
  t1=$(ticks "${PID[$name]}"); n1=$(answered "${URL[$name]}")
  res="$res cpu_us/req=$(python3 -c "print(f'{($t1 - $t0) / $CLK_TCK * 1e6 / max(1, $n1 - $n0 - 1):.1f}')")"
  echo "$label $res" | tee -a "$WORK/results"
}
CLK_TCK="$(getconf CLK_TCK)"

echo
echo "## the big store's server after its full sync of $TASKS tasks (the process has carried the whole feed)"
for round in $(seq "$ROUNDS"); do
  measure big "since-synced-$round" "since=${CURSOR[big]}"
  measure empty "since-empty-a-$round" "since=${CURSOR[empty]}"
done
measure big "fullpage-synced" "limit=500"
echo "# RSS after these runs: big $(rss_mib "${PID[big]}") MiB, empty $(rss_mib "${PID[empty]}") MiB"

echo
echo "## the big store's server restarted (the same store and cursor; the process has served no full sync)"
kill -TERM "${PID[big]}"
wait "${PID[big]}" || true
launch big
for round in $(seq "$ROUNDS"); do
  measure big "since-restarted-$round" "since=${CURSOR[big]}"
  measure empty "since-empty-b-$round" "since=${CURSOR[empty]}"
done
measure big "fullpage-restarted" "limit=500"
echo "# RSS after these runs: big $(rss_mib "${PID[big]}") MiB, empty $(rss_mib "${PID[empty]}") MiB"

python3 - "$WORK/results" "$TASKS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, *fields = line.split()
    rows[label] = dict(f.split("=", 1) for f in fields if "=" in f)
tasks = int(sys.argv[2])
KEYS = ("req/s", "p50_ms", "p99_ms", "cpu_us/req", "bytes/req")
def pick(prefix):
    runs = [v for k, v in rows.items() if k.startswith(prefix)]
    return {key: statistics.median(float(r[key]) for r in runs) for key in KEYS}, len(runs)
print()
print(f"{'GET /api/changes, median of the runs':<58} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>10} {'bytes/req':>9}")
results = {}
for prefix, label in (("since-synced-", f"?since, {tasks:,} tasks, after a full sync"),
                      ("since-empty-a-", "?since, empty store (same rounds)"),
                      ("since-restarted-", f"?since, {tasks:,} tasks, server restarted"),
                      ("since-empty-b-", "?since, empty store (same rounds)"),
                      ("fullpage-synced", f"?limit=500, {tasks:,} tasks, after a full sync"),
                      ("fullpage-restarted", f"?limit=500, {tasks:,} tasks, server restarted")):
    r, n = pick(prefix)
    results[prefix] = r
    print(f"{label + f' ({n})':<58} {r['req/s']:>8.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['cpu_us/req']:>10.1f} {r['bytes/req']:>9.0f}")
for big, empty, what in (("since-synced-", "since-empty-a-", "after a full sync"),
                         ("since-restarted-", "since-empty-b-", "restarted")):
    b, e = results[big], results[empty]
    print(f"incremental read, {tasks:,} tasks ({what}) / empty: req/s {b['req/s'] / e['req/s']:.3f}, "
          f"CPU per request {b['cpu_us/req'] / e['cpu_us/req']:.2f}x, p50 {b['p50_ms'] / e['p50_ms']:.2f}x")
errors = [k for k, v in rows.items() if v.get("non2xx") != "0" or v.get("sock_errors") != "0"]
if errors:
    print("errors in: " + ", ".join(errors))
PY
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
