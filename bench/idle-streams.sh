#!/usr/bin/env bash
# What idle live-change streams cost the server: 10,000 open
# GET /api/events streams (10 per user, the most a user may hold, so 1,000
# users) against one server, held open and idle. docs/api.md says an idle
# stream costs no CPU and a few KiB.
#
#   bench/idle-streams.sh --peers DIR [--users 1000] [--per-user 10] [--idle 30]
#                         [--duration 10s]
#
#  1. the list scenario against the ceiling peer warp-limit and the product,
#     without streams, with the peers' harness (compare.sh --scenarios list);
#  2. a store of --users users, each with an API token, loaded with
#     `taskserver import` (bench/make_export.py: no registration, no
#     password hashing), and the server started on it (CPU 1) with
#     --max-connections room for every stream;
#  3. the server's resident set (VmRSS) and its CPU time (utime + stime in
#     /proc/PID/stat) over --idle seconds with no stream open;
#  4. bench/hold_streams.py (CPU 0) opens users x per-user streams and holds
#     them: the resident set again, so KiB per stream, and the CPU over
#     --idle seconds with every stream open and idle (each stream sends a
#     heartbeat every 15 s and checks its token then);
#  5. with the streams still open, the list scenario against the product
#     with the harness's run.sh (as compare.sh runs it), and its ratio to
#     warp-limit from step 1, beside the ratio without streams;
#  6. the streams closed, the same list run on the same server again: the
#     pair 5/6 compares one process with and without the streams, and the
#     server's CPU time per request (from /proc and its /metrics) tells a
#     cost of the streams from a busier machine.
#
# DIR (or the environment variable PEERS) is the directory of the wrk
# harness (bench/compare.sh, bench/run.sh) and the peer servers
# (peers/warp-limit/taskserver); they are not part of this repository.
# Raises the open-file limit to its hard limit (the streams need one
# descriptor each on both sides). Needs wrk, taskset, curl and python3.
# Loopback only; temporary stores and processes are removed at exit.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PEERS="${PEERS:-}" USERS=1000 PER_USER=10 IDLE=30 DURATION=10s
while [ $# -gt 0 ]; do
  case "$1" in
    --peers) PEERS="$2"; shift 2;;
    --users) USERS="$2"; shift 2;;
    --per-user) PER_USER="$2"; shift 2;;
    --idle) IDLE="$2"; shift 2;;
    --duration) DURATION="$2"; shift 2;;
    -h|--help) sed -n 2,35p "$0"; exit 0;;
    *) echo "idle-streams.sh: unknown argument $1" >&2; exit 2;;
  esac
done
if [ -z "$PEERS" ] || [ ! -x "$PEERS/bench/compare.sh" ]; then
  echo "idle-streams.sh: give the directory of the wrk harness and the peer servers with --peers DIR or PEERS=DIR" >&2
  exit 2
fi
PEERS="$(cd "$PEERS" && pwd)"
for tool in wrk taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "idle-streams.sh: $tool is missing" >&2; exit 1; }
done
STREAMS=$((USERS * PER_USER))
# One descriptor per stream on each side, and room for wrk and the store.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((STREAMS + 1024)) ]; then
  echo "idle-streams.sh: the open-file limit ($(ulimit -n)) is too low for $STREAMS streams" >&2
  exit 1
fi

cd "$ROOT"
cargo build --release -q -p taskserver
TARGET="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
BIN="$TARGET/release/taskserver"
WORK="$(mktemp -d -t taskserver-idle-streams.XXXXXX)"
PID="" HOLDER=""
cleanup() {
  for pid in $HOLDER $PID; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
export TASKSERVER_JWT_SECRET="bench-secret-0123456789abcdef0123456789abcdef"
CLK_TCK="$(getconf CLK_TCK)"

echo "# idle-streams.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "## 1. list without streams (compare.sh, $DURATION)"
"$PEERS/bench/compare.sh" --duration "$DURATION" --scenarios list \
  "warp-limit=$PEERS/peers/warp-limit/taskserver" "taskserver=$BIN" | tee "$WORK/compare" | grep -v '^#' | sed '/^$/d'
# The list req/s of a server: its run follows compare.sh's `# == NAME` line.
list_rps() {
  awk -v name="$1" '/^# == / { current = $3 } current == name && /^list / {
    for (i = 2; i <= NF; i++) if ($i ~ /^req\/s=/) { sub(/^req\/s=/, "", $i); print $i } }' "$WORK/compare"
}
CEILING="$(list_rps warp-limit)"
PLAIN="$(list_rps taskserver)"
if [ -z "$CEILING" ] || [ -z "$PLAIN" ]; then
  echo "idle-streams.sh: compare.sh gave no list result for both servers (a peer's launcher that builds" >&2
  echo "  on first use may outlast compare.sh's wait: start it once by hand, then run this again)" >&2
  exit 1
fi

echo
echo "## 2. $USERS users with an API token each, imported"
python3 "$HERE/make_export.py" "$WORK/export.jsonl" --users "$USERS" --tokens-out "$WORK/tokens"
"$BIN" import --data-dir "$WORK/data" --in "$WORK/export.jsonl" | grep -v 'created a new store' | sed 's/^/# /'
: >"$WORK/server.log"  # read below before the server may have opened it
taskset -c 1 "$BIN" --listen 127.0.0.1:0 --data-dir "$WORK/data" --auth-rate-limit off \
  --max-tasks-per-user 10000000 --max-connections $((STREAMS + 1000)) >"$WORK/server.log" 2>"$WORK/server.err" &
PID=$!
URL=""
for _ in $(seq 600); do
  URL="$(sed -n 's/^listening on //p' "$WORK/server.log" | head -1)"
  [ -n "$URL" ] && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.02
done
[ -n "$URL" ] || { echo "idle-streams.sh: the server did not start:" >&2; tail -5 "$WORK/server.err" >&2; exit 1; }
until curl -sf "$URL/readyz" >/dev/null; do sleep 0.01; done

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
# CPU use of the server over $IDLE seconds, in percent of one core.
idle_cpu() {
  local t0 t1 w0 w1
  t0=$(cpu_ticks); w0=$(date +%s.%N)
  sleep "$IDLE"
  t1=$(cpu_ticks); w1=$(date +%s.%N)
  python3 -c "print(f'{($t1 - $t0) / $CLK_TCK / ($w1 - $w0) * 100:.2f}')"
}

echo
echo "## 3. the server with no stream open"
sleep 2
RSS0=$(rss_kib)
CPU0=$(idle_cpu)
echo "# RSS $((RSS0 / 1024)) MiB; CPU over ${IDLE}s idle: $CPU0 %"

echo
echo "## 4. $STREAMS streams ($PER_USER for each of $USERS users), held idle"
taskset -c 0 python3 "$HERE/hold_streams.py" "$URL" --tokens "$WORK/tokens" --per-user "$PER_USER" \
  >"$WORK/holder" 2>"$WORK/holder.err" &
HOLDER=$!
until grep -qs '^OPEN ' "$WORK/holder"; do
  kill -0 "$HOLDER" 2>/dev/null || { echo "idle-streams.sh: the stream holder stopped:" >&2; cat "$WORK/holder.err" >&2; exit 1; }
  sleep 0.2
done
sed 's/^/# /' "$WORK/holder"
OPENED="$(sed -n 's/^OPEN streams=\([0-9]*\).*/\1/p' "$WORK/holder")"
[ "$OPENED" = "$STREAMS" ] || { echo "idle-streams.sh: only $OPENED of $STREAMS streams opened" >&2; exit 1; }
sleep 2
RSS1=$(rss_kib)
CPU1=$(idle_cpu)
RSS1b=$(rss_kib)
PER_STREAM=$(python3 -c "print(f'{($RSS1 - $RSS0) / $STREAMS:.1f}')")
echo "# RSS $((RSS1 / 1024)) MiB ($PER_STREAM KiB a stream); CPU over ${IDLE}s idle: $CPU1 %; RSS after: $((RSS1b / 1024)) MiB"

# Requests the server has answered, from its /metrics.
answered() { curl -sf "$URL/metrics" | awk '/^taskserver_requests_total/ { n += $2 } END { print n + 0 }'; }
# The harness's list run against the server; prints its line with the
# server's CPU time per request answered meanwhile (warm-up and setup
# included), and sets RPS and CPU_US.
list_run() {
  local t0 t1 n0 n1 line
  t0=$(cpu_ticks); n0=$(answered)
  line="$("$PEERS/bench/run.sh" "$URL" --duration "$DURATION" --scenarios list --server-pid "$PID" | grep '^list ')"
  t1=$(cpu_ticks); n1=$(answered)
  RPS="$(sed -n 's/.*req\/s=\([0-9.]*\).*/\1/p' <<<"$line")"
  CPU_US="$(python3 -c "print(f'{($t1 - $t0) / $CLK_TCK * 1e6 / max(1, $n1 - $n0):.1f}')")"
  echo "$line server_cpu_us/req=$CPU_US"
}

echo
echo "## 5. list with the $STREAMS streams open (run.sh, $DURATION)"
H0=$(awk '{ print $14 + $15 }' "/proc/$HOLDER/stat")
list_run
WITH=$RPS WITH_CPU=$CPU_US
H1=$(awk '{ print $14 + $15 }' "/proc/$HOLDER/stat")
echo "# the stream holder's CPU time meanwhile (on wrk's CPU 0): $(python3 -c "print(f'{($H1 - $H0) / $CLK_TCK:.2f} s')")"
RSS2=$(rss_kib)
kill -TERM "$HOLDER"
wait "$HOLDER" || true
HOLDER=""
sed -n 's/^CLOSED /# holder at the end: /p' "$WORK/holder"
echo "# RSS after the list run with the streams: $((RSS2 / 1024)) MiB"

echo
echo "## 6. list on the same server once the streams are closed (run.sh, $DURATION)"
# The server lets go of a stream whose client left when it next writes to
# it (at the latest its heartbeat): wait until its descriptors are gone.
t0=$(date +%s.%N)
for _ in $(seq 600); do
  [ "$(ls "/proc/$PID/fd" | wc -l)" -lt 200 ] && break
  sleep 0.1
done
t1=$(date +%s.%N)
echo "# the server held $(ls "/proc/$PID/fd" | wc -l) descriptors $(python3 -c "print(f'{$t1 - $t0:.1f}')") s after the streams were closed"
list_run
AFTER=$RPS AFTER_CPU=$CPU_US

echo
python3 - "$STREAMS" "$RSS0" "$RSS1" "$CPU0" "$CPU1" "$CEILING" "$PLAIN" "$WITH" "$IDLE" "$AFTER" "$WITH_CPU" "$AFTER_CPU" <<'PY'
import sys
streams, rss0, rss1 = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cpu0, cpu1, ceiling, plain, with_streams, idle, after, with_cpu, after_cpu = map(float, sys.argv[4:13])
print(f"{'':<40} {'no streams':>12} {f'{streams:,} streams':>15}")
print(f"{'server RSS, MiB':<40} {rss0 / 1024:>12.1f} {rss1 / 1024:>15.1f}")
print(f"{'KiB per stream':<40} {'':>12} {(rss1 - rss0) / streams:>15.1f}")
print(f"{f'server CPU over {idle:.0f} s idle, % of a core':<40} {cpu0:>12.2f} {cpu1:>15.2f}")
print(f"{'list req/s, fresh server (compare.sh)':<40} {plain:>12.0f}")
print(f"{'list req/s, same server (run.sh)':<40} {after:>12.0f} {with_streams:>15.0f}")
print(f"{'server CPU per list request, us':<40} {after_cpu:>12.1f} {with_cpu:>15.1f}")
print(f"{f'list / warp-limit ({ceiling:.0f} req/s), fresh':<40} {plain / ceiling:>12.3f}")
print(f"{'list / warp-limit, same server':<40} {after / ceiling:>12.3f} {with_streams / ceiling:>15.3f}")
PY
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
