"""One console write, one refresh: how many times the open Approvals screen (F2) re-reads its
table, and how many change events the console's process hears, for each approval typed in the
console (`a`), and for each write another process makes (a sign-up written by a separate
Python process) — counted, not timed, with the event loop's largest stall meanwhile.

After each write the benchmark waits until the row has come or gone, then for several more polls
of `PRAGMA data_version` (counted on the console's own poller), and counts everything heard
meanwhile. Goal (issue #19): exactly 1 refresh and 1 event per write, in-process and
cross-process; the loop never stalls > 20 ms (bench/_stalls.py).

Run: `make bench` or `.venv/bin/python bench/bench_console_refreshes.py [--count N | --quick]`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _figures import arguments, figure, machine_line, size  # noqa: E402
from _stalls import LoopStalls  # noqa: E402

from console.app import UsherApp  # noqa: E402
from console.screens.approvals import ApprovalsScreen  # noqa: E402
from store import load_settings  # noqa: E402
from store.database.engine import Engine  # noqa: E402

DEFAULT_COUNT = 20
QUICK_COUNT = 3
POLLS_AFTER_EACH_WRITE = 3
STALL_GOAL = 0.02
SIZE = (120, 40)

INSERT = (
    "INSERT INTO users (email, email_key, first_name, last_name, level, status, created_at, "
    "updated_at) VALUES (?1, lower(?1), 'Pat', ?2, 'member', 'pending', "
    "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')"
)
WRITER = f"""
import sqlite3, sys
db, count = sys.argv[1], int(sys.argv[2])
conn = sqlite3.connect(db, isolation_level=None)
for i in range(count):
    sys.stdin.readline()  # wait until the benchmark has counted the previous write's refreshes
    conn.execute({INSERT!r}, (f"other{{i}}@example.org", f"Other {{i}}"))
    print("committed", flush=True)
"""


class Counters:
    """Approvals reloads and `data_version` polls in this process, counted where they happen
    (the class methods are wrapped before the console starts, so its poller is counted)."""

    def __init__(self) -> None:
        self.reloads = 0
        self.polls = 0

    def install(self) -> Callable[[], None]:
        reload, data_version = ApprovalsScreen.reload, Engine.data_version
        counters = self

        async def counted_reload(screen: ApprovalsScreen) -> None:
            counters.reloads += 1
            await reload(screen)

        async def counted_version(engine: Engine) -> int:
            counters.polls += 1
            return await data_version(engine)

        ApprovalsScreen.reload = counted_reload  # type: ignore[method-assign,assignment]
        Engine.data_version = counted_version  # type: ignore[method-assign,assignment]

        def restore() -> None:
            ApprovalsScreen.reload = reload  # type: ignore[method-assign]
            Engine.data_version = data_version  # type: ignore[method-assign]

        return restore


async def until(pilot: Any, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit("the console did not get there within a minute")
        await pilot.pause(0.005)


def waiting_is(screen: ApprovalsScreen, count: int) -> bool:
    return screen.waiting_count == count


async def more_polls(pilot: Any, counters: Counters, polls: int) -> None:
    target = counters.polls + polls
    await until(pilot, lambda: counters.polls >= target)


async def main(count: int) -> None:
    print(machine_line(), flush=True)
    counters = Counters()
    restore = counters.install()
    try:
        with tempfile.TemporaryDirectory() as folder:
            settings = load_settings({"db": str(Path(folder) / "usher.db")}, environ={})
            app = UsherApp(settings, no_server=True, background=False)
            async with app.run_test(size=SIZE) as pilot:
                assert app.store is not None
                with sqlite3.connect(app.store.path, isolation_level=None) as seed:
                    seed.executemany(
                        INSERT, [(f"own{i}@example.org", f"Own {i}") for i in range(count)]
                    )
                await pilot.press("f2")
                screen = app.screen
                assert isinstance(screen, ApprovalsScreen)
                await until(pilot, lambda: screen.waiting_count == count)
                await more_polls(pilot, counters, POLLS_AFTER_EACH_WRITE)
                heard: list[frozenset[str]] = []

                async def listen() -> None:
                    assert app.store is not None
                    async with app.store.feed.listening() as changes:
                        async for topics in changes:
                            heard.append(topics)

                listener = asyncio.create_task(listen())
                await asyncio.sleep(0)
                stalls = LoopStalls()  # from here: the writes, not opening the screen
                await stalls.__aenter__()

                own_reloads = own_events = 0
                for left in range(count - 1, -1, -1):
                    reloads, events = counters.reloads, len(heard)
                    screen.table.focus()
                    await pilot.press("a")  # approve the highlighted person, as an admin does
                    await until(pilot, partial(waiting_is, screen, left))
                    await more_polls(pilot, counters, POLLS_AFTER_EACH_WRITE)
                    own_reloads += counters.reloads - reloads
                    own_events += len(heard) - events

                writer = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    WRITER,
                    str(app.store.path),
                    str(count),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
                assert writer.stdin is not None and writer.stdout is not None
                other_reloads = other_events = 0
                for done in range(1, count + 1):
                    reloads, events = counters.reloads, len(heard)
                    writer.stdin.write(b"go\n")
                    await writer.stdin.drain()
                    await writer.stdout.readline()
                    await until(pilot, partial(waiting_is, screen, done))
                    await more_polls(pilot, counters, POLLS_AFTER_EACH_WRITE)
                    other_reloads += counters.reloads - reloads
                    other_events += len(heard) - events
                writer.stdin.close()
                await writer.wait()
                await stalls.__aexit__(None, None, None)
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
    finally:
        restore()

    for name, total in (
        ("refreshes per console approve", own_reloads),
        ("events per console approve", own_events),
        ("refreshes per other process's write", other_reloads),
        ("events per other process's write", other_events),
    ):
        figure(
            f"{name} ({count})",
            f"{total / count:.2f}",
            goal="= 1",
            ratio=total / count,
            passed=total == count,
        )
    figure(
        "largest loop stall, console, writes",
        f"{stalls.largest * 1000:.1f} ms",
        goal=f"< {STALL_GOAL * 1000:.0f} ms",
        passed=stalls.largest < STALL_GOAL,
    )
    figure("  of it on the loop's CPU", f"{stalls.largest_on_cpu * 1000:.1f} ms")


if __name__ == "__main__":
    parser = arguments(__doc__, default=DEFAULT_COUNT, quick=QUICK_COUNT)
    args = parser.parse_args()
    asyncio.run(main(size(args, default=DEFAULT_COUNT, quick=QUICK_COUNT)))
