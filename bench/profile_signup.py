"""Where a signup's CPU goes: py-spy samples this process (every thread) while the load generator
(bench/_loadgen.py, its own process) signs up `--count` people through the embedded server, then
prints the busy samples by the innermost frame that names a part (the hash, the strength check,
SQLite, Usher's code, Litestar, h11, sockets). The README's flame summary comes from it.

Not run by `make bench` (py-spy is no dependency of Usher: `.venv/bin/pip install py-spy`).
Run: `.venv/bin/python bench/profile_signup.py [--count N] [--get]` (`--get`: page GETs instead).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _figures import machine_line
from bench_signup import Running, load, rate

from signup_server.app import create_app
from store import Store, load_settings
from store.onboarding.links import LinkDraft, create_link

IDLE = (
    "_worker (concurrent/futures/thread.py:81)",  # a pool thread waiting for work
    "_connection_worker_thread (aiosqlite/core.py:59)",  # aiosqlite waiting for a statement
    "select (selectors.py",  # the loop waiting for the network
    "_do_waitpid",
    "wait (threading.py",
)
PARTS = (
    ("argon2", "argon2id hash (worker threads)"),
    ("zxcvbn", "password strength check, zxcvbn (worker thread)"),
    ("sqlite", "SQLite: statements in aiosqlite's thread"),
    # store/database/engine.py's functions that run in aiosqlite's thread (SQLite's C code shows no
    # frame of its own, so the samples in a statement end in them):
    ("_execute (store/database/engine.py", "SQLite: statements in aiosqlite's thread"),
    ("_fetchone (store/database/engine.py", "SQLite: statements in aiosqlite's thread"),
    ("_fetchall (store/database/engine.py", "SQLite: statements in aiosqlite's thread"),
    ("_begin (store/database/engine.py", "SQLite: statements in aiosqlite's thread"),
    ("<lambda> (store/database/engine.py", "SQLite: statements in aiosqlite's thread"),
    ("store/", "Usher store: the signup transaction, audit, outbox (loop)"),
    ("signup_server/", "Usher signup_server: handlers, page cache, headers (loop)"),
    ("jinja", "Jinja (loop)"),
    ("litestar/middleware/csrf", "Litestar CSRF (loop)"),
    ("litestar", "Litestar routing, DI, parsing, responses (loop)"),
    ("h11", "HTTP parsing, h11 (loop)"),
    ("uvicorn", "uvicorn (loop)"),
    ("selector_events", "socket reads and writes (loop)"),
    ("asyncio", "asyncio: the loop, thread hand-offs"),
    ("concurrent/futures", "thread pool hand-offs"),
)


def summary(raw: Path) -> list[tuple[str, float]]:
    """Share of the busy samples per part, largest first (py-spy's raw format: one collapsed
    stack and its count a line)."""
    parts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")[1:]
        if not frames or any(idle in frames[-1] for idle in IDLE):
            continue
        part = next(
            (name for frame in reversed(frames) for key, name in PARTS if key in frame), "other"
        )
        parts[part] += int(count)
    busy = sum(parts.values()) or 1
    return [(name, n / busy) for name, n in parts.most_common()]


async def run(count: int, mode: str, out: Path) -> float:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            {"db": str(Path(folder) / "bench.db"), "port": 0},
            environ={"USHER_RATE_LIMIT": "1000000"},
        )
        async with await Store.open(settings) as store:
            link = await create_link(
                store,
                LinkDraft(label="bench", auto_accept=True, confirm_email=False, expires_in=None),
                actor="bench",
            )
            app = create_app(store, settings, secret_key=await store.secret_key())
            server = Running(app, settings.host)
            try:
                await server.started()
                url = f"http://{settings.host}:{server.port}/join/{link.token}"
                await load("get", url, 100)  # warm
                record = [spy, "record", "--pid", str(os.getpid()), "--format", "raw"]
                sampler = subprocess.Popen(
                    [*record, "--rate", "250", "--threads", "--output", str(out)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                await asyncio.sleep(1.0)  # py-spy attached
                result = await load(mode, url, count, tag=str(time.time_ns()))
                sampler.send_signal(signal.SIGINT)
                await asyncio.to_thread(sampler.wait)
            finally:
                await server.stop()
    return rate(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="signups (GETs: 20x as many)")
    parser.add_argument("--get", action="store_true", help="profile page GETs instead")
    args = parser.parse_args()
    mode = "get" if args.get else "signup"
    count = args.count * 20 if args.get else args.count
    print(machine_line())
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "samples.txt"
        per_second = asyncio.run(run(count, mode, out))
        print(f"{count} {mode}s at {per_second:.1f}/s; busy samples by part:")
        for name, share in summary(out):
            print(f"  {share:6.1%}  {name}")


if __name__ == "__main__":
    main()
