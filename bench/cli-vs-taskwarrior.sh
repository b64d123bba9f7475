#!/usr/bin/env bash
# taskcli against Taskwarrior, whole-process wall time of the commands a
# person types, on the same 200 pending tasks (the issue's targets:
# `taskcli list` on a fresh replica at most `task list`; `taskcli add`,
# durable on a loopback server before it prints the number, at most
# 2 x `task add`; `taskcli list` with the server stopped the same as with
# it running).
#
#   bench/cli-vs-taskwarrior.sh [--tasks 200] [--runs 10] [--warmup 3]
#                               [--taskserver BIN] [--taskcli BIN]
#
# Without --taskserver/--taskcli it builds both in release mode
# (`cargo build --release`; a no-op when they are up to date) and takes
# them from the workspace's target/release.
#  1. starts `taskserver --listen 127.0.0.1:0` on a new store with a random
#     TASKSERVER_JWT_SECRET and waits for /healthz;
#  2. with a private HOME, XDG_CONFIG_HOME, XDG_DATA_HOME and
#     TASKCLI_KEYRING=none: registers a user (tokens in a file), adds
#     --tasks pending tasks online (`taskcli --no-replica add`, titles like
#     "Task 001 buy milk", some with tags, priorities, projects), then
#     `taskcli sync` fills the replica;
#  3. gives Taskwarrior (TASKRC and TASKDATA in the same directory, its
#     default settings but confirmation=off) the same tasks by `task import`;
#  4. hyperfine (-N: no shell; --output=pipe: stdout is a pipe, not a tty,
#     so neither program pages nor colours), median of --runs after
#     --warmup runs of each:
#     a. `task list` vs `taskcli list`, replica fresh, server running;
#     b. the server stopped (kill, wait): `task list` vs `taskcli list`;
#     c. the server started again on the same port and store, the replica
#        synced again: `task add Bench task` vs `taskcli add Bench task`
#        (each run adds a task, so both end with --tasks + warmup + runs);
#  5. prints each run's time and a Markdown table with the ratios and the
#     targets, the machine and the versions. `list` with the server stopped
#     counts as the same as running when its median is within 10 % of the
#     running one or inside that run's quartiles (taskcli's runs spread
#     more than 10 %). The replica is synced right before a and b, well
#     within TASKCLI_SYNC_MAX_AGE (300 s), so `list` reads it without the
#     network; a `list` that printed a note about syncing would say so.
#
# Needs hyperfine, taskwarrior, curl and python3 (apt-get install -y
# hyperfine taskwarrior curl python3). Loopback only. Everything lives in
# one `mktemp -d` directory, removed at exit with the server.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
TASKS=200 RUNS=10 WARMUP=3 SERVER_BIN="" CLI_BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tasks) TASKS="$2"; shift 2;;
    --runs) RUNS="$2"; shift 2;;
    --warmup) WARMUP="$2"; shift 2;;
    --taskserver) SERVER_BIN="$2"; shift 2;;
    --taskcli) CLI_BIN="$2"; shift 2;;
    -h|--help) sed -n 2,42p "$0"; exit 0;;
    *) echo "cli-vs-taskwarrior.sh: unknown argument $1" >&2; exit 2;;
  esac
done
for tool in hyperfine task curl python3; do
  command -v "$tool" >/dev/null || { echo "cli-vs-taskwarrior.sh: $tool is missing" >&2; exit 1; }
done

if [ -z "$SERVER_BIN" ] || [ -z "$CLI_BIN" ]; then
  (cd "$ROOT" && cargo build --release -q -p taskserver -p taskcli)
  TARGET="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  SERVER_BIN="${SERVER_BIN:-$TARGET/release/taskserver}"
  CLI_BIN="${CLI_BIN:-$TARGET/release/taskcli}"
fi
# Absolute, since the commands below run in another directory.
SERVER_BIN="$(cd "$(dirname "$SERVER_BIN")" && pwd)/$(basename "$SERVER_BIN")"
CLI_BIN="$(cd "$(dirname "$CLI_BIN")" && pwd)/$(basename "$CLI_BIN")"
for bin in "$SERVER_BIN" "$CLI_BIN"; do
  [ -x "$bin" ] || { echo "cli-vs-taskwarrior.sh: $bin is not an executable" >&2; exit 1; }
done
COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")"
if [ "$COMMIT" != "not a git checkout" ] && [ -n "$(git -C "$ROOT" status --porcelain -- taskserver taskclient taskcore taskcli Cargo.lock 2>/dev/null)" ]; then
  COMMIT="$COMMIT (with uncommitted changes)"
fi

WORK="$(mktemp -d -t taskcli-vs-taskwarrior.XXXXXX)"
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

# One environment for both programs and for hyperfine's children; none
# of the caller's settings of either (the server would take DATABASE_URL).
# shellcheck disable=SC2046
unset $(compgen -v TASKSERVER_) $(compgen -v TASKCLI_) DATABASE_URL NO_COLOR TASKRC TASKDATA
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/share"
export TASKCLI_KEYRING=none
export TASKRC="$WORK/taskrc" TASKDATA="$WORK/task"
TASKSERVER_JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export TASKSERVER_JWT_SECRET
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$TASKDATA" "$WORK/bin"
# On PATH, so that hyperfine (which splits a command at spaces) runs
# `taskcli list` wherever the binary is.
ln -s "$CLI_BIN" "$WORK/bin/taskcli"
export PATH="$WORK/bin:$PATH"

# Starts the server on $WORK/data at $1 (host:port; port 0 picks one) and
# waits for /healthz; sets SERVER_PID and URL.
start_server() {
  : >"$WORK/server.log"
  "$SERVER_BIN" --listen "$1" --data-dir "$WORK/data" >"$WORK/server.log" 2>"$WORK/server.err" &
  SERVER_PID=$!
  URL=""
  for _ in $(seq 500); do
    URL="$(sed -n 's/^listening on //p' "$WORK/server.log" | head -1)"
    [ -n "$URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.02
  done
  [ -n "$URL" ] || { echo "cli-vs-taskwarrior.sh: the server did not start:" >&2; tail -5 "$WORK/server.err" >&2; exit 1; }
  URL="${URL%/}"
  for _ in $(seq 500); do
    curl -sf "$URL/healthz" >/dev/null && return 0
    sleep 0.01
  done
  echo "cli-vs-taskwarrior.sh: $URL/healthz did not answer" >&2
  exit 1
}

start_server 127.0.0.1:0
export TASKCLI_SERVER="$URL"
HOSTPORT="${URL#http://}"

echo "# cli-vs-taskwarrior.sh $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $COMMIT"
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Linux $(uname -r), temp dir on $(stat -f -c %T "$WORK")"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# versions: Taskwarrior $(task --version), $("$CLI_BIN" --version), $(hyperfine --version)"

# The tasks, the same for both: a tag on every third, a priority on three
# in five, a project on two in seven.
declare -a TITLES TAGS PRIS PROJECTS
THINGS=(buy milk "call the bank" "water plants" "review PR" "book dentist" "pay rent" "fix bike")
for i in $(seq 1 "$TASKS"); do
  TITLES[i]="$(printf 'Task %03d %s' "$i" "${THINGS[i % 7]}")"
  case $((i % 3)) in 0) TAGS[i]=home;; *) TAGS[i]="";; esac
  case $((i % 5)) in 0) PRIS[i]=H;; 1) PRIS[i]=M;; 2) PRIS[i]=L;; *) PRIS[i]="";; esac
  case $((i % 7)) in 0) PROJECTS[i]=Work;; 1) PROJECTS[i]=Home.Garden;; *) PROJECTS[i]="";; esac
done

printf 'a long password\n' | "$CLI_BIN" auth register --email bench@example.com --password-stdin --insecure-storage >/dev/null
t0=$(date +%s%N)
for i in $(seq 1 "$TASKS"); do
  # Split on purpose: the title's words and the Taskwarrior-style words.
  # shellcheck disable=SC2086
  "$CLI_BIN" --no-replica add ${TITLES[i]} \
    ${TAGS[i]:++${TAGS[i]}} ${PRIS[i]:+pri:${PRIS[i]}} ${PROJECTS[i]:+project:${PROJECTS[i]}} >/dev/null
done
t1=$(date +%s%N)
"$CLI_BIN" sync >/dev/null
echo "# taskcli: $TASKS tasks added online in $(( (t1 - t0) / 1000000 )) ms, replica filled by \`taskcli sync\`"

printf 'data.location=%s\nconfirmation=off\nnews.version=%s\n' "$TASKDATA" "$(task --version)" >"$TASKRC"
python3 - "$TASKS" >"$WORK/import.json" <<'PY'
import json, sys
n = int(sys.argv[1])
things = ["buy milk", "call the bank", "water plants", "review PR", "book dentist", "pay rent", "fix bike"]
tasks = []
for i in range(1, n + 1):
    task = {"description": f"Task {i:03d} {things[i % 7]}", "status": "pending"}
    if i % 3 == 0:
        task["tags"] = ["home"]
    pri = {0: "H", 1: "M", 2: "L"}.get(i % 5)
    if pri:
        task["priority"] = pri
    project = {0: "Work", 1: "Home.Garden"}.get(i % 7)
    if project:
        task["project"] = project
    tasks.append(task)
print(json.dumps(tasks))
PY
task import "$WORK/import.json" >/dev/null 2>&1
echo "# Taskwarrior: $(task count status:pending 2>/dev/null) pending tasks imported; taskrc: data.location, confirmation=off, news.version (no nag), the rest default (gc=on)"

# Checks that `taskcli list` and `task list` each print every task, and
# that `taskcli list` said nothing on stderr (no sync attempted, no note).
check_lists() {
  local cli_rows tw_rows
  cli_rows="$("$CLI_BIN" list 2>"$WORK/list.err" | grep -c 'Task [0-9][0-9][0-9] ' || true)"
  tw_rows="$(task list 2>/dev/null | grep -c 'Task [0-9][0-9][0-9] ' || true)"
  if [ -s "$WORK/list.err" ]; then
    echo "# taskcli list said on stderr ($1): $(head -1 "$WORK/list.err")"
  fi
  echo "# rows listed ($1): taskcli $cli_rows, Taskwarrior $tw_rows"
}

HF=(hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --output=pipe --style basic)
echo "# hyperfine -N --warmup $WARMUP --runs $RUNS --output=pipe: no shell, stdout a pipe (no tty: no pager, no colours)"

echo
echo "## a. list, server running"
"$CLI_BIN" sync >/dev/null
check_lists "server running"
"${HF[@]}" --export-json "$WORK/list-up.json" -n "task list" "task list" -n "taskcli list" "taskcli list"

echo
echo "## b. list, server stopped"
"$CLI_BIN" sync >/dev/null
stop_server
check_lists "server stopped"
"${HF[@]}" --export-json "$WORK/list-down.json" -n "task list" "task list" -n "taskcli list" "taskcli list"

echo
echo "## c. add, server running on loopback"
start_server "$HOSTPORT"
"$CLI_BIN" sync >/dev/null
"${HF[@]}" --export-json "$WORK/add.json" -n "task add" "task add Bench task" -n "taskcli add" "taskcli add Bench task"
added="$("$CLI_BIN" add Bench task 2>&1)"
echo "# one more taskcli add prints: $added"
case "$added" in
  *"not synced"*|*"wait"*) echo "# WARNING: that add did not reach the server within its budget";;
esac

echo
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - "$WORK" "$TASKS" <<'PY'
import json, statistics, sys
work, tasks = sys.argv[1], sys.argv[2]

def medians(name):
    with open(f"{work}/{name}.json") as f:
        results = json.load(f)["results"]
    return {r["command"]: r for r in results}

up, down, add = medians("list-up"), medians("list-down"), medians("add")
ms = lambda r: r["median"] * 1000

def quartiles(r):
    t = sorted(x * 1000 for x in r["times"])
    return statistics.quantiles(t, n=4)[0], statistics.quantiles(t, n=4)[2]

def detail(label, r):
    t = sorted(x * 1000 for x in r["times"])
    return (f"# {label}: median {ms(r):.2f} ms, mean {r['mean'] * 1000:.2f} ± {r['stddev'] * 1000:.2f} ms; "
            f"each run, sorted: {' '.join(f'{x:.1f}' for x in t)}")

for label, r in [("a. task list", up["task list"]), ("a. taskcli list", up["taskcli list"]),
                 ("b. task list", down["task list"]), ("b. taskcli list", down["taskcli list"]),
                 ("c. task add", add["task add"]), ("c. taskcli add", add["taskcli add"])]:
    print(detail(label, r))
print()

yes = lambda ok: "yes" if ok else "**no**"
rows = []
tw, cli = ms(up["task list"]), ms(up["taskcli list"])
rows.append((f"`list`, {tasks} pending, fresh replica, server running", tw, cli, cli / tw, "≤ 1×", yes(cli <= tw)))
tw_a, cli_a = ms(add["task add"]), ms(add["taskcli add"])
rows.append(("`add`, durable on the loopback server before it prints", tw_a, cli_a, cli_a / tw_a, "≤ 2×", yes(cli_a <= 2 * tw_a)))
tw_d, cli_d = ms(down["task list"]), ms(down["taskcli list"])
# "The same": within 10 % of the median with the server running, or
# inside that run's own interquartile range (taskcli's runs spread more
# than 10 %: see the sorted runs above).
same = cli_d / cli
low, high = quartiles(up["taskcli list"])
rows.append((f"`list`, {tasks} pending, server stopped", tw_d, cli_d, cli_d / tw_d,
             f"same as running ({cli:.1f} ms, quartiles {low:.1f}–{high:.1f}): here {same:.2f}×",
             yes(same <= 1.1 or low <= cli_d <= high)))

print("| what | Taskwarrior median ms | taskcli median ms | ratio | target | met? |")
print("| --- | ---: | ---: | ---: | --- | --- |")
for what, a, b, r, target, met in rows:
    print(f"| {what} | {a:.1f} | {b:.1f} | {r:.2f}× | {target} | {met} |")
PY
