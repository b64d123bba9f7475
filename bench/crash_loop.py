#!/usr/bin/env python3
"""Crash loop: write load, SIGKILL at a random moment, restart on the same
data, check that every acknowledged write is there intact and that nothing
unacknowledged is half there. Repeats for --cycles rounds.

    bench/crash_loop.py [--server PATH] [--cycles 20] [--writers 16]
                        [--database-url postgres://...]   (an empty database; else a temporary sled dir)

--server defaults to the release build in cargo's target directory
(`CARGO_TARGET_DIR` or target/). Exits non-zero on the first lost or damaged
write. Traffic goes to 127.0.0.1 only.
"""
import argparse, http.client, json, os, random, signal, subprocess, sys, tempfile, threading, time

SECRET = "crash-loop-secret-0123456789abcdef0123456789"


def start(server, data_dir, database_url=None):
    env = dict(os.environ, TASKSERVER_JWT_SECRET=SECRET, RUST_LOG="warn")
    store = ["--database-url", database_url] if database_url else ["--data-dir", data_dir]
    proc = subprocess.Popen(
        [server, "--listen", "127.0.0.1:0", *store, "--auth-rate-limit", "off"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on http://"):
        proc.kill()
        sys.exit(f"server did not start: {line!r}")
    host, port = line.strip().rsplit("/", 1)[1].split(":")
    return proc, host, int(port)


def request(conn, method, path, body=None, token=None, headers=None):
    h = {"content-type": "application/json"}
    if token:
        h["authorization"] = f"Bearer {token}"
    h.update(headers or {})
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, (json.loads(data) if data else None)


def writer(host, port, token, prefix, acked, attempted, stop):
    """Creates tasks (and patches every third one) until the server dies."""
    conn = http.client.HTTPConnection(host, port, timeout=5)
    i = 0
    while not stop.is_set():
        title = f"{prefix}-{i}"
        attempted.add(title)
        try:
            status, task = request(conn, "POST", "/api/tasks",
                                   {"title": title, "description": "d" * (i % 50), "tags": [prefix]}, token)
        except Exception:
            return
        if status != 201:
            print(f"unexpected status {status} on create", file=sys.stderr)
            return
        acked[task["id"]] = task
        if i % 3 == 0:
            try:
                status, patched = request(conn, "PATCH", f"/api/tasks/{task['id']}",
                                          {"completed": True, "priority": "high"}, token)
            except Exception:
                return
            if status == 200:
                acked[task["id"]] = patched
        i += 1


def check(host, port, token, acked, attempted):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    seen, cursor = {}, None
    while True:
        path = "/api/tasks?limit=200" + (f"&cursor={cursor}" if cursor else "")
        status, page = request(conn, "GET", path, token=token)
        assert status == 200, f"list answered {status}"
        for t in page["tasks"]:
            seen[t["id"]] = t
        cursor = page["next_cursor"]
        if not cursor:
            break
    lost = [i for i in acked if i not in seen]
    damaged = [i for i, t in acked.items() if i in seen and seen[i]["version"] < t["version"]]
    # A write may be durable yet unacknowledged (killed before the reply): then
    # it must be whole: a title we sent, and all its fields.
    strangers = [t for i, t in seen.items() if i not in acked and t["title"] not in attempted]
    # Numbers stay unique and reachable, and the next one continues past them all.
    numbers = [t["number"] for t in seen.values()]
    assert len(set(numbers)) == len(numbers), "two tasks share a number"
    for t in random.sample(list(seen.values()), min(20, len(seen))):
        status, got = request(conn, "GET", f"/api/tasks/{t['number']}", token=token)
        assert status == 200 and got["id"] == t["id"], f"number {t['number']} does not lead to its task"
    status, probe = request(conn, "POST", "/api/tasks", {"title": "probe"}, token)
    assert status == 201 and probe["number"] > max(numbers, default=0), "a number was reused"
    acked[probe["id"]] = probe
    return len(seen), lost, damaged, strangers


def target_dir():
    """Cargo's target directory: target/ unless CARGO_TARGET_DIR (or a cargo config) says otherwise."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps",
         "--manifest-path", os.path.join(root, "Cargo.toml")],
        check=True, capture_output=True, text=True)
    return json.loads(meta.stdout)["target_directory"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=None, help="default: the release build in cargo's target directory")
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--writers", type=int, default=16)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    if args.server is None:
        args.server = os.path.join(target_dir(), "release", "taskserver")
    if not os.access(args.server, os.X_OK):
        sys.exit(f"crash_loop.py: no server binary at {args.server} (cargo build --release -p taskserver)")
    data_dir = tempfile.mkdtemp(prefix="crashloop.")
    proc, host, port = start(args.server, data_dir, args.database_url)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    status, session = request(conn, "POST", "/api/auth/register",
                              {"email": "crash@example.com", "password": "crash-loop-password"})
    assert status == 201, status
    token = session["access_token"]
    acked, attempted = {}, set()
    for cycle in range(1, args.cycles + 1):
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(host, port, token, f"c{cycle}w{w}", acked, attempted, stop))
                   for w in range(args.writers)]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.2, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
        proc, host, port = start(args.server, data_dir, args.database_url)
        total, lost, damaged, strangers = check(host, port, token, acked, attempted)
        print(f"cycle {cycle:2}: {len(acked)} acknowledged, {total} stored, "
              f"{len(lost)} lost, {len(damaged)} older than acknowledged, {len(strangers)} unknown")
        if lost or damaged or strangers:
            proc.kill()
            sys.exit("FAILED: an acknowledged write was lost or damaged")
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    print(f"crash loop: {args.cycles} cycles, no acknowledged write lost or damaged")
    sys.exit(0 if code == 0 else f"SIGTERM exit code {code}")


if __name__ == "__main__":
    main()
