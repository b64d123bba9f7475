#!/usr/bin/env python3
"""The server's resident memory over the run the memory target speaks of:
register USERS users from THREADS client threads, load TASKS tasks through
the HTTP API (round robin over those users), stay idle, then (with
--harness) run the wrk scenarios.

    python3 bench/memory.py --server target/release/taskserver
        [--cores 1|2] [--users 1000] [--threads 16] [--tasks 1000000]
        [--idle 10] [--harness DIR] [--scenarios "list get ..."]
        [--duration 10s] [-- SERVER_ARGS...]

--cores 1 pins the server to CPU 1 (and wrk to CPU 0); --cores 2 pins
nothing. --harness DIR is the directory of the wrk harness (bench/run.sh,
bench/setup.py, bench/lua/), which is not part of this repository; without
it the scenarios are skipped. Arguments after `--` go to the server.

Prints one line per phase with the resident set at its end and the highest
one sampled during it (every 50 ms), then the process's own peak (VmHWM),
where the memory is (/proc/PID/smaps_rollup), and the store's size on disk.
Needs python3 (standard library), wrk and taskset; loopback only.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))


def status(pid):
    """VmRSS and VmHWM of pid, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def rollup(pid):
    """The lines of /proc/PID/smaps_rollup that say what kind of memory is resident."""
    keep = ("Rss", "Anonymous", "Private_Dirty", "Shared_Clean", "Private_Clean")
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keep:
                out[key] = int(value.split()[0])
    return out


def mib(kib):
    return f"{kib / 1024:.0f}"


class Sampler(threading.Thread):
    """Samples the server's resident set; `phase()` starts a new maximum."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.high, self.running = pid, 0, True

    def run(self):
        while self.running:
            try:
                self.high = max(self.high, status(self.pid)["VmRSS"])
            except (OSError, KeyError):
                return
            time.sleep(0.05)

    def phase(self, name, started, **extra):
        now = status(self.pid)["VmRSS"]
        high = max(self.high, now)
        fields = " ".join(f"{k}={v}" for k, v in extra.items())
        print(f"{name} seconds={time.time() - started:.1f} rss_mib={mib(now)} "
              f"phase_peak_mib={mib(high)} {fields}".rstrip(), flush=True)
        self.high = 0


def call(base, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    for attempt in range(20):
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            # 503 + Retry-After: the hashing pool is full; the client waits, as a real one would.
            if e.code in (429, 503) and attempt < 19:
                time.sleep(float(e.headers.get("Retry-After", "1")))
                continue
            sys.exit(f"memory.py: {method} {path} -> {e.code} {e.read()[:300]!r}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, help="the taskserver binary")
    p.add_argument("--cores", type=int, choices=(1, 2), default=2)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--tasks", type=int, default=1_000_000)
    p.add_argument("--connections", type=int, default=64, help="wrk connections while loading")
    p.add_argument("--idle", type=float, default=10.0, help="seconds idle after loading")
    p.add_argument("--harness", help="directory of the wrk harness (bench/run.sh); no scenarios without it")
    p.add_argument("--scenarios", default="list get create update mixed")
    p.add_argument("--duration", default="10s")
    p.add_argument("--data-dir", help="keep the store here (default: a temporary directory, removed)")
    p.add_argument("server_args", nargs="*", help="after --: more arguments for the server")
    a = p.parse_args()

    work = tempfile.TemporaryDirectory(prefix="taskserver-memory.")
    data = a.data_dir or os.path.join(work.name, "data")
    pin_server = ["taskset", "-c", "1"] if a.cores == 1 else []
    pin_client = ["taskset", "-c", "0"] if a.cores == 1 else []
    env = dict(os.environ, TASKSERVER_JWT_SECRET="memory-secret-0123456789abcdef0123456789abcdef")
    cmd = pin_server + [a.server, "--listen", "127.0.0.1:0", "--data-dir", data,
                        "--auth-rate-limit", "off", "--max-tasks-per-user", "10000000"] + a.server_args
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=open(os.path.join(work.name, "server.err"), "w"),
                              text=True)
    try:
        line = server.stdout.readline()
        while line and not line.startswith("listening on "):
            line = server.stdout.readline()  # a wrapper's own output (heaptrack, time)
        if not line.startswith("listening on "):
            sys.exit("memory.py: the server did not start:\n" + open(os.path.join(work.name, "server.err")).read())
        base = line.split()[-1].rstrip("/")
        pid = server.pid
        print(f"# memory.py {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}: server on "
              f"{'CPU 1' if a.cores == 1 else 'both cores'}; {a.users} users from {a.threads} threads, "
              f"{a.tasks} tasks through HTTP (wrk -t1 -c{a.connections}); args: {' '.join(a.server_args) or '(none)'}",
              flush=True)
        sampler = Sampler(pid)
        sampler.start()
        t = time.time()
        sampler.phase("start", t)

        t = time.time()
        def register(_):
            body = {"email": f"mem-{uuid.uuid4().hex[:16]}@example.com", "password": "memory-password-123"}
            return call(base, "POST", "/api/auth/register", body)["access_token"]
        with ThreadPoolExecutor(a.threads) as pool:
            tokens = list(pool.map(register, range(a.users)))
        sampler.phase("register", t, users=len(tokens))

        if a.tasks > 0:
            t = time.time()
            tokens_file = os.path.join(work.name, "tokens")
            with open(tokens_file, "w") as f:
                f.write("\n".join(tokens) + "\n")
            done_file = os.path.join(work.name, "loaded")
            wrk_env = dict(os.environ, BENCH_TOKENS_FILE=tokens_file, BENCH_LOAD_TASKS=str(a.tasks),
                           BENCH_DONE_FILE=done_file)
            wrk = subprocess.Popen(pin_client + ["wrk", "-t1", f"-c{a.connections}", "-d24h", "--timeout", "10s",
                                                 "-s", os.path.join(HERE, "lua", "load.lua"), base],
                                   env=wrk_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            # wrk runs until its duration; on SIGINT it stops and prints its summary.
            while not os.path.exists(done_file) and wrk.poll() is None:
                time.sleep(0.2)
            wrk.send_signal(signal.SIGINT)
            out, _ = wrk.communicate()
            out = subprocess.CompletedProcess(wrk.args, wrk.returncode, out, "")
            result = next((l[len("RESULT "):] for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
            if result is None:
                sys.exit(f"memory.py: wrk failed: {out.stdout}{out.stderr}")
            sampler.phase("load", t, **dict(kv.split("=", 1) for kv in result.split()))

        t = time.time()
        time.sleep(a.idle)
        sampler.phase("idle", t)

        if a.harness:
            t = time.time()
            run = [os.path.join(a.harness, "bench", "run.sh"), base, "--duration", a.duration,
                   "--scenarios", a.scenarios]
            run += ["--server-pid", str(pid)] if a.cores == 1 else ["--no-pin"]
            out = subprocess.run(run, capture_output=True, text=True)
            for l in out.stdout.splitlines():
                if not l.startswith("#"):
                    print("#   " + l)
            filtered = [os.path.join(HERE, "list-filtered.sh"), base, "--harness", a.harness,
                        "--duration", a.duration] + (["--server-pid", str(pid)] if a.cores == 1 else ["--no-pin"])
            out = subprocess.run(filtered, capture_output=True, text=True)
            for l in out.stdout.splitlines():
                if not l.startswith("#"):
                    print("#   " + l)
            sampler.phase("scenarios", t)

        s, r = status(pid), rollup(pid)
        print(f"peak_mib={mib(s['VmHWM'])} rss_mib={mib(s['VmRSS'])} "
              + " ".join(f"smaps_{k.lower()}_mib={mib(v)}" for k, v in r.items()))
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data) for f in fs)
        print(f"store_mib={size / 2**20:.0f}", flush=True)
        sampler.running = False
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        work.cleanup()


if __name__ == "__main__":
    main()
