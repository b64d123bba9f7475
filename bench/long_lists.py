#!/usr/bin/env python3
"""One user's expensive lists against everyone else's requests.

Starts SERVER on an empty data directory, gives one user (the searcher)
--tasks tasks, then measures another user's GET of one task and /healthz
while 0, 2 and 16 threads of the searcher run lists that miss the
first-page cache (a new `q` each time, sorted by title). Prints the
latency of the other user's requests (median, p99, max) for each load.

    python3 bench/long_lists.py --server target/release/taskserver [--tasks 100000]

Pin it as the other benchmarks do to see one core: `taskset -c 1` on the
server is applied with --server-cpu.
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

PASSWORD = "correct horse battery staple"


class Client:
    def __init__(self, port, token=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = token

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        return resp.status, payload


def register(port, email):
    status, payload = Client(port).call("POST", "/api/auth/register", {"email": email, "password": PASSWORD})
    assert status == 201, (status, payload)
    return json.loads(payload)["access_token"]


def seed(port, token, count, threads=16):
    left = iter(range(count))
    lock = threading.Lock()

    def work():
        client = Client(port, token)
        while True:
            with lock:
                i = next(left, None)
            if i is None:
                return
            status, payload = client.call("POST", "/api/tasks", {"title": f"task {i:06d} of the searcher", "description": "seeded for the long-list benchmark"})
            assert status == 201, (status, payload)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def measure(port, other_token, other_task, searchers, searcher_token, seconds):
    stop = threading.Event()
    search_times = []

    def search(n):
        client = Client(port, searcher_token)
        i = 0
        while not stop.is_set():
            i += 1
            started = time.perf_counter()
            status, _ = client.call("GET", f"/api/tasks?q=zzz{n}x{i}&sort=title&limit=50")
            search_times.append(time.perf_counter() - started)
            assert status in (200, 503), status

    threads = [threading.Thread(target=search, args=(n,)) for n in range(searchers)]
    for t in threads:
        t.start()
    time.sleep(0.5 if searchers else 0)
    other = Client(port, other_token)
    health = Client(port)
    gets, healths = [], []
    deadline = time.time() + seconds
    while time.time() < deadline:
        started = time.perf_counter()
        status, _ = other.call("GET", f"/api/tasks/{other_task}")
        gets.append(time.perf_counter() - started)
        assert status == 200, status
        started = time.perf_counter()
        status, _ = health.call("GET", "/healthz")
        healths.append(time.perf_counter() - started)
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    ms = lambda v: f"{v * 1000:.1f}"
    row = (f"{searchers:>2} searches in flight | other user's GET median {ms(statistics.median(gets))} ms, "
           f"p99 {ms(percentile(gets, 0.99))} ms, max {ms(max(gets))} ms | /healthz max {ms(max(healths))} ms")
    if search_times:
        row += f" | one search median {ms(statistics.median(search_times))} ms"
    print(row, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--server-cpu", default=None, help="pin the server to these CPUs (taskset -c)")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="long-lists-")
    command = [args.server, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(workdir, "data"), "--auth-rate-limit", "off"]
    if args.server_cpu:
        command = ["taskset", "-c", args.server_cpu] + command
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        port = int(line.strip().rsplit(":", 1)[1])
        searcher = register(port, "searcher@example.com")
        other = register(port, "other@example.com")
        started = time.time()
        seed(port, searcher, args.tasks)
        print(f"seeded {args.tasks} tasks in {time.time() - started:.1f} s", flush=True)
        status, payload = Client(port, other).call("POST", "/api/tasks", {"title": "the other user's task"})
        assert status == 201
        other_task = json.loads(payload)["id"]
        for searchers in (0, 2, 16):
            measure(port, other, other_task, searchers, searcher, args.seconds)
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
