"""Opens many idle live-change streams (GET /api/events) and holds them,
for bench/idle-streams.sh.

    python3 bench/hold_streams.py BASE_URL --tokens FILE [--per-user 10] [--concurrency 200]

FILE holds one bearer token per line (one user each); each token opens
--per-user streams. Once every stream has been tried it prints
`OPEN streams=.. failed=.. seconds=..` (failures by status first, as
`# refused: ...`), then reads whatever the streams send (comment lines:
the server's heartbeats) until SIGTERM or SIGINT, and prints
`CLOSED held=.. ended_early=.. heartbeats=..`: how many were still open,
how many the server ended while held, and the heartbeats received.
Raise the open-file limit first (ulimit -n). Standard library only.
"""
import argparse
import asyncio
import collections
import signal
import sys
import time
from urllib.parse import urlsplit


class Held:
    """What the held streams have seen."""

    def __init__(self):
        self.open = 0
        self.ended_early = 0
        self.heartbeats = 0
        self.refused = collections.Counter()


async def open_stream(host, port, token, held, gate):
    """Opens one stream and returns its reader and writer, or None."""
    async with gate:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write((f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
                          f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").encode())
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 30)
            while (await asyncio.wait_for(reader.readline(), 30)) not in (b"\r\n", b""):
                pass  # the rest of the head
        except (OSError, asyncio.TimeoutError) as e:
            held.refused[type(e).__name__] += 1
            return None
        parts = status.split()
        if len(parts) < 2 or parts[1] != b"200":
            held.refused[status.decode(errors="replace").strip() or "no answer"] += 1
            writer.close()
            return None
        held.open += 1
        return reader, writer


async def hold(reader, held):
    """Reads the stream until it ends; counts its heartbeats."""
    while True:
        try:
            # Whatever has come, in one read: the holder shares a core with
            # wrk, so it wakes once per arrival and no more.
            data = await reader.read(65536)
        except (OSError, asyncio.CancelledError):
            return
        if not data:
            held.open -= 1
            held.ended_early += 1
            return
        # Each heartbeat is a small write of its own, never split.
        held.heartbeats += data.count(b": heartbeat")


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("base")
    p.add_argument("--tokens", required=True)
    p.add_argument("--per-user", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=200)
    a = p.parse_args()
    url = urlsplit(a.base)
    host, port = url.hostname, url.port or 80
    tokens = [line.strip() for line in open(a.tokens) if line.strip()]
    held, gate = Held(), asyncio.Semaphore(a.concurrency)

    started = time.monotonic()
    opened = await asyncio.gather(*(open_stream(host, port, t, held, gate)
                                    for t in tokens for _ in range(a.per_user)))
    streams = [s for s in opened if s]
    for why, count in held.refused.most_common():
        print(f"# refused: {count} x {why}", flush=True)
    print(f"OPEN streams={len(streams)} failed={len(opened) - len(streams)} "
          f"seconds={time.monotonic() - started:.1f}", flush=True)

    readers = [asyncio.create_task(hold(r, held)) for r, _ in streams]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print(f"CLOSED held={held.open} ended_early={held.ended_early} heartbeats={held.heartbeats}", flush=True)
    for task in readers:
        task.cancel()
    for _, writer in streams:
        writer.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
