"""Writes a store export (the JSON Lines of `taskserver export`) for
benchmarks: USERS users with TASKS tasks each and one API token each, so
that `taskserver import` loads a big store in one go (no HTTP, no password
hashing) and every user can call the API at once with its token.

    python3 bench/make_export.py OUT --users N [--tasks-per-user M] --tokens-out FILE

The users' password hash is a fixed, valid PHC string: they are not meant
to log in, their API tokens are their credentials. Each token's value (a
fresh random `tsk_...`) goes to FILE, one line per user in file order, and
only its SHA-256 into the export, as the store keeps it. Standard library
only.
"""
import argparse
import hashlib
import os
import random
import secrets
import sys
import time
from datetime import datetime, timezone

# As the seed_store example: valid PHC syntax, no password behind it.
PASSWORD_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWRzZWVk$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
PRIORITIES = ("none", "low", "medium", "high")


def uuid7(ms):
    """A UUIDv7 (the store's id kind) at `ms` milliseconds, random below."""
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | random.getrandbits(12) << 64
    value |= 0b10 << 62 | random.getrandbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def stamp(micros):
    """RFC 3339 in UTC with microseconds, as the store writes times."""
    seconds, rest = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest:06d}Z"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--tasks-per-user", type=int, default=0)
    p.add_argument("--tokens-out", required=True)
    a = p.parse_args()

    started = time.time()
    now_ms = int(started * 1000)
    # Everything happened over the last day, in file order.
    base_us = (now_ms - 86_400_000) * 1000
    created = stamp(base_us)
    expires = stamp((now_ms + 365 * 86_400_000) * 1000)
    users = [uuid7(now_ms - 86_400_000) for _ in range(a.users)]
    tokens = ["tsk_" + secrets.token_urlsafe(32) for _ in users]
    # Task ids sort by creation time: step the millisecond with each task.
    step_ms = max(1, 86_000_000 // max(1, a.users * a.tasks_per_user))
    with open(a.out, "w", buffering=1 << 20) as out:
        for i, user in enumerate(users):
            out.write(f'{{"type":"user","id":"{user}","email":"bench-{i}-{user[-12:]}@example.com",'
                      f'"password_hash":"{PASSWORD_HASH}","external":null,"created_at":"{created}",'
                      f'"next_task_number":{a.tasks_per_user + 1}}}\n')
        n = 0
        for number in range(1, a.tasks_per_user + 1):
            for user in users:
                n += 1
                ms = now_ms - 86_400_000 + 1 + n * step_ms
                at = stamp(ms * 1000)
                due = f'"2031-{n % 12 + 1:02d}-{n % 28 + 1:02d}T09:00:00Z"' if n % 2 else "null"
                out.write(f'{{"type":"task","owner":"{user}","task":{{"id":"{uuid7(ms)}","number":{number},'
                          f'"title":"Imported task {n}","description":"a task of the change-feed benchmark, number {n}",'
                          f'"completed":false,"priority":"{PRIORITIES[n % 4]}","due":{due},'
                          f'"tags":["bench","t{n % 5}"],"created_at":"{at}","updated_at":"{at}",'
                          f'"completed_at":null,"version":1,"project":null,"recur":null,"series":null}}}}\n')
        for user, token in zip(users, tokens):
            digest = hashlib.sha256(token.encode()).hexdigest()
            out.write(f'{{"type":"api_token","id":"{uuid7(now_ms)}","user_id":"{user}","name":"bench",'
                      f'"hash":"{digest}","created_at":"{created}","expires_at":"{expires}",'
                      f'"last_used_at":null}}\n')
    with open(os.open(a.tokens_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write("".join(t + "\n" for t in tokens))
    print(f"# wrote {a.users} users, {a.users * a.tasks_per_user} tasks and {a.users} API tokens "
          f"in {time.time() - started:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
