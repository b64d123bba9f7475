#!/usr/bin/env bash
# The list-filtered scenario: lists whose filter and sort change on every
# request, over several users, so each page is built rather than served
# from the first-page cache. Same pinning and output line as the wrk
# harness's run.sh (`list-filtered req/s=.. p50_ms=.. p99_ms=.. non2xx=..
# sock_errors=.. requests=..`).
#
#   bench/list-filtered.sh BASE_URL --harness DIR [--users 8] [--duration 10s]
#                          [--connections 64] [--server-pid PID] [--no-pin] [--warmup 3s]
#                          [--projects]
#
# --projects runs list-project instead: the seeded tasks are spread over
# projects (Home, Home.Garden, Home.Garden.Beds, Work, Work.Q1, none) and
# every request filters by one (lua/list-project.lua). A peer that does not
# keep projects answers it like any list.
#
# DIR (or the environment variable PEERS) is the directory of the wrk
# harness (bench/setup.py), which is not part of this repository: setup.py
# registers each user and seeds its 50 tasks. Pinning as in run.sh: wrk on
# CPU 0; --server-pid moves that server to CPU 1; --no-pin pins nothing.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BASE="" HARNESS="${PEERS:-}" USERS=8 DURATION=10s CONNS=64 SPID="" PIN=1 WARMUP=3s
SCENARIO=list-filtered
while [ $# -gt 0 ]; do
  case "$1" in
    --harness) HARNESS="$2"; shift 2;;
    --users) USERS="$2"; shift 2;;
    --duration) DURATION="$2"; shift 2;;
    --connections) CONNS="$2"; shift 2;;
    --server-pid) SPID="$2"; shift 2;;
    --no-pin) PIN=0; shift;;
    --warmup) WARMUP="$2"; shift 2;;
    --projects) SCENARIO=list-project; shift;;
    -h|--help) sed -n 2,21p "$0"; exit 0;;
    -*) echo "list-filtered.sh: unknown option $1" >&2; exit 2;;
    *) BASE="${1%/}"; shift;;
  esac
done
[ -n "$BASE" ] || { echo "usage: list-filtered.sh BASE_URL --harness DIR [options]" >&2; exit 2; }
if [ -z "$HARNESS" ] || [ ! -f "$HARNESS/bench/setup.py" ]; then
  echo "list-filtered.sh: give the directory of the wrk harness with --harness DIR or PEERS=DIR (it must hold bench/setup.py)" >&2
  exit 2
fi
command -v wrk >/dev/null || { echo "list-filtered.sh: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }

WRK=(wrk)
if [ "$PIN" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  WRK=(taskset -c 0 wrk)
  if [ -n "$SPID" ]; then
    for pid in $SPID $(pgrep -P "$SPID" || true); do taskset -a -p -c 1 "$pid" >/dev/null; done
    echo "# pinning: wrk on CPU 0 (1 thread), server pid $SPID on CPU 1"
  fi
fi

TOKENS=""
for _ in $(seq "$USERS"); do
  seeded="$(python3 "$HARNESS/bench/setup.py" "$BASE")"
  token="$(sed -n 's/^TOKEN=//p' <<<"$seeded")"
  if [ "$SCENARIO" = list-project ]; then
    python3 - "$BASE" "$token" "$(sed -n 's/^IDS=//p' <<<"$seeded")" <<'PY'
import json, sys, urllib.request
base, token, ids = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
projects = ["Home", "Home.Garden", "Home.Garden.Beds", "Work", "Work.Q1", None]
for i, task in enumerate(ids):
    body = json.dumps({"project": projects[i % len(projects)]}).encode()
    req = urllib.request.Request(f"{base}/api/tasks/{task}", data=body, method="PATCH",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + token})
    try:
        urllib.request.urlopen(req, timeout=30).read()
    except urllib.error.HTTPError:
        pass  # a peer that keeps no projects (or no tasks) refuses it: nothing to spread
PY
  fi
  TOKENS="${TOKENS:+$TOKENS,}$token"
done
export BENCH_TOKENS="$TOKENS"
echo "# $BASE: $USERS users with 50 tasks each; a new filter and sort every request ($SCENARIO); wrk -t1 -c$CONNS -d$DURATION"
if [ -n "$WARMUP" ] && [ "$WARMUP" != 0 ]; then
  "${WRK[@]}" -t1 -c"$CONNS" -d"$WARMUP" -s "$HERE/lua/$SCENARIO.lua" "$BASE" >/dev/null 2>&1 || true
fi
res="$("${WRK[@]}" -t1 -c"$CONNS" -d"$DURATION" --latency -s "$HERE/lua/$SCENARIO.lua" "$BASE" 2>&1 | sed -n 's/^RESULT //p')"
[ -n "$res" ] || res="req/s=0 p50_ms=NaN p99_ms=NaN non2xx=NaN (wrk failed)"
echo "$SCENARIO $res"
