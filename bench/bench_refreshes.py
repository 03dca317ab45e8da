"""One commit, one change event: how many events (each one a refresh of every screen that follows
the feed) a single write causes — in the process that wrote it and in another process.

Counted, not timed: after each write the benchmark waits for several polls of `PRAGMA
data_version` and counts every event heard meanwhile. Goal: exactly 1 in each case (the poller
once echoed a process's own commits as "another process changed something", so each console
write caused a second, full refresh about 100 ms later).

Run: `make bench` or `.venv/bin/python bench/bench_refreshes.py [--count N | --quick]`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
from pathlib import Path

from _figures import arguments, figure, machine_line, size
from _stalls import LoopStalls, stall_figure

from store import Store, load_settings
from store.database.changes import EXTERNAL
from store.domain.clock import db_now

DEFAULT_COUNT = 50
QUICK_COUNT = 5
POLLS_AFTER_EACH_WRITE = 3

WRITER = """
import sqlite3, sys
db, count = sys.argv[1], int(sys.argv[2])
conn = sqlite3.connect(db, isolation_level=None)
for i in range(count):
    sys.stdin.readline()  # wait until the benchmark has counted the previous commit's events
    conn.execute(
        "INSERT INTO users (email, email_key, level, status, created_at, updated_at) "
        "VALUES (?1, lower(?1), 'member', 'pending', '2026-01-01T00:00:00.000000Z', "
        "'2026-01-01T00:00:00.000000Z')",
        (f"other{i}@example.org",),
    )
    print("committed", flush=True)
"""


class Counting:
    """The change feed's poller, counted: `more(n)` returns after n further polls."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.polls = 0
        self.polled = asyncio.Condition()

    async def __call__(self) -> int:
        version = await self.store.engine.data_version()
        async with self.polled:
            self.polls += 1
            self.polled.notify_all()
        return version

    async def more(self, count: int) -> None:
        target = self.polls + count
        async with self.polled:
            await self.polled.wait_for(lambda: self.polls >= target)


async def main(count: int) -> None:
    print(machine_line(), flush=True)
    async with LoopStalls() as stalls:
        await count_events(count)
    stall_figure(stalls, "largest event-loop stall, all writes")


async def count_events(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings({"db": str(Path(folder) / "usher.db")}, environ={})
        async with await Store.open(settings, watch=False) as store:
            counting = Counting(store)
            store.feed.watch_other_processes(counting, interval=0.02)
            await counting.more(1)
            heard: list[frozenset[str]] = []

            async def listen() -> None:
                async with store.feed.listening() as changes:
                    async for topics in changes:
                        heard.append(topics)

            listener = asyncio.create_task(listen())
            await asyncio.sleep(0)
            for i in range(count):
                async with store.write("users") as tx:
                    await tx.execute(
                        "INSERT INTO users (email, email_key, level, status, created_at, "
                        "updated_at) VALUES (?1, lower(?1), 'member', 'pending', ?2, ?3)",
                        (f"own{i}@example.org", db_now(), db_now()),
                    )
                await counting.more(POLLS_AFTER_EACH_WRITE)
            own = len(heard)
            echoes = sum(1 for topics in heard if EXTERNAL in topics)
            heard.clear()

            writer = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                WRITER,
                str(store.path),
                str(count),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert writer.stdin is not None and writer.stdout is not None
            for _ in range(count):
                writer.stdin.write(b"go\n")
                await writer.stdin.drain()
                await writer.stdout.readline()
                before = len(heard)
                while len(heard) == before:  # the commit is heard at a poll …
                    await counting.more(1)
                await counting.more(POLLS_AFTER_EACH_WRITE)  # … and never again
            writer.stdin.close()
            await writer.wait()
            other = len(heard)
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            with sqlite3.connect(store.path) as check:
                users = check.execute("SELECT count(*) FROM users").fetchone()[0]
    per_own, per_other = own / count, other / count
    figure(
        f"events per write, same process ({count})",
        f"{per_own:.2f}",
        goal="= 1",
        ratio=per_own,
        passed=own == count,
    )
    figure(
        "echoes of own writes as another's",
        f"{echoes}",
        goal="= 0",
        passed=echoes == 0,
    )
    figure(
        f"events per write, other process ({count})",
        f"{per_other:.2f}",
        goal="= 1",
        ratio=per_other,
        passed=other == count,
    )
    figure("accounts written / asked", f"{users} / {2 * count}", passed=users == 2 * count)


if __name__ == "__main__":
    parser = arguments(__doc__, default=DEFAULT_COUNT, quick=QUICK_COUNT)
    args = parser.parse_args()
    asyncio.run(main(size(args, default=DEFAULT_COUNT, quick=QUICK_COUNT)))
