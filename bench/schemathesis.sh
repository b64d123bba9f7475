#!/usr/bin/env bash
# A bounded schemathesis pass against a running taskserver: every operation of
# /api/openapi.json is exercised with generated requests (valid and invalid),
# and every response must be no 5xx and match the document (status code,
# content type, headers, body schema); invalid requests must be refused,
# deleted tasks must be gone, unsupported methods must be 405 with `Allow`,
# and a request without the token must be refused.
#
#     bench/schemathesis.sh [path/to/taskserver [schemathesis run options...]]
#
# The server defaults to the debug build in cargo's target directory
# (`cargo metadata`'s target_directory); further arguments go to
# `schemathesis run` (e.g. `--checks all`, `--include-path /api/tasks`).
#
# Knobs (environment): SCHEMATHESIS_MAX_EXAMPLES (default 30 per operation),
# SCHEMATHESIS_TIMEOUT (hard bound on the pass in seconds, default 300),
# SCHEMATHESIS_SEED (for a reproducible run), SCHEMATHESIS_WORKERS (default 1:
# under Python 3.11 several workers can trip a CPython race in `ast.parse`
# inside hypothesis, reported as "AST constructor recursion depth mismatch").
#
# schemathesis (4.x) is installed from PyPI into a venv under
# ${XDG_CACHE_HOME:-$HOME/.cache}/taskserver-schemathesis on first use.
# The server listens on 127.0.0.1 only, on a fresh temporary data directory.
# Exits non-zero when schemathesis reports any failure or the server dies.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ $# -gt 0 ]]; then
    BIN=$1
else
    BIN=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/taskserver
fi
[[ $# -gt 0 ]] && shift
[[ $BIN == /* ]] || BIN=$PWD/$BIN
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-30}
TIMEOUT=${SCHEMATHESIS_TIMEOUT:-300}
WORKERS=${SCHEMATHESIS_WORKERS:-1}
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/taskserver-schemathesis
# Every check but positive_data_acceptance, whose failures here are all
# false: it expects 2xx for schema-valid requests, but a valid `If-Match`
# may name an old version (412) and a valid string may not be a cursor (400).
CHECKS=all
EXCLUDE_CHECKS=positive_data_acceptance

if [[ ! -x $BIN ]]; then
    echo "schemathesis.sh: no server binary at $BIN (cargo build -p taskserver)" >&2
    exit 2
fi

if [[ ! -x $VENV/bin/schemathesis ]]; then
    echo "installing schemathesis into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
ST=$VENV/bin/schemathesis

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Start the server from the empty work directory, so no stray `.env` applies.
: >"$WORK/stdout"
(
    cd "$WORK"
    export TASKSERVER_JWT_SECRET=schemathesis-secret-0123456789abcdef0123456789
    export RUST_LOG=${RUST_LOG:-warn}
    exec "$BIN" --listen 127.0.0.1:0 --data-dir "$WORK/data" \
        --auth-rate-limit off --token-ttl 1h >"$WORK/stdout" 2>"$WORK/stderr"
) &
SERVER_PID=$!

ADDR=
for _ in $(seq 1 300); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "schemathesis.sh: the server exited on start:" >&2
        cat "$WORK/stderr" >&2
        exit 1
    fi
    ADDR=$(sed -n 's|^listening on http://||p' "$WORK/stdout" | head -n 1)
    [[ -n $ADDR ]] && break
    sleep 0.1
done
if [[ -z $ADDR ]]; then
    echo "schemathesis.sh: the server did not print its address within 30 s" >&2
    exit 1
fi
BASE=http://$ADDR
echo "server on $BASE (pid $SERVER_PID)" >&2

# Authentication: one session for every operation but logout, which revokes
# the session it is called with; each logout case gets a fresh session of its
# own, so nothing after it turns into a 401.
cat >"$WORK/hooks.py" <<'PY'
import itertools
import json
import os
import threading
import urllib.request

import schemathesis

BASE = os.environ["TASKSERVER_URL"]
_lock = threading.Lock()
_shared = None
_numbers = itertools.count(1)


def _new_session():
    email = f"schemathesis-{next(_numbers)}@example.com"
    body = json.dumps({"email": email, "password": "schemathesis-password"}).encode()
    request = urllib.request.Request(
        BASE + "/api/auth/register",
        data=body,
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


@schemathesis.auth(refresh_interval=None, retry_on=[])
class SessionAuth:
    def get(self, case, context):
        global _shared
        if case.operation.label == "POST /api/auth/logout":
            return _new_session()
        with _lock:
            if _shared is None:
                _shared = _new_session()
            return _shared

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
PY

echo "== schemathesis: $MAX_EXAMPLES examples per operation, at most $TIMEOUT s" >&2
args=(
    run "$BASE/api/openapi.json"
    --checks "$CHECKS"
    --exclude-checks "$EXCLUDE_CHECKS"
    --max-examples "$MAX_EXAMPLES"
    --workers "$WORKERS"
    --request-timeout 10
    --generation-database none
    --no-color
)
# GET /api/events answers a Server-Sent Events stream that never ends while
# its token holds, so every generated request would wait out the request
# timeout; the integration tests (taskserver/tests/api/events.rs) cover it.
# GET /api/changes, its feed in pages, is checked like every other operation.
args+=(--exclude-path /api/events)
[[ -n ${SCHEMATHESIS_SEED:-} ]] && args+=(--seed "$SCHEMATHESIS_SEED")
# --max-time would make fuzzing repeat until the budget is spent; the hard
# bound is `timeout` instead, so the pass ends as soon as it is done.
status=0
(
    cd "$WORK"
    export TASKSERVER_URL=$BASE SCHEMATHESIS_HOOKS=$WORK/hooks.py
    exec timeout --signal=INT --kill-after=10 "$TIMEOUT" "$ST" "${args[@]}" "$@"
) || status=$?
if [[ $status == 124 ]]; then
    echo "schemathesis.sh: the pass hit the ${TIMEOUT} s bound" >&2
fi

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "schemathesis.sh: the server died during the run:" >&2
    tail -n 50 "$WORK/stderr" >&2
    exit 1
fi
if grep -qiE 'panick|internal' "$WORK/stderr"; then
    echo "schemathesis.sh: the server logged errors:" >&2
    grep -iE 'panick|internal' "$WORK/stderr" | head -n 20 >&2
    [[ $status == 0 ]] && status=1
fi
exit "$status"
