"""Pasting 10,000 addresses into the Invite screen: how long the parse takes (cold, and again
after a keystroke, when checked addresses are remembered), the preview against a database that
already has accounts and pending invitations, the event loop's worst stall meanwhile, and the
one-transaction send of them all.

Run: `make bench` or `.venv/bin/python bench/bench_parse_addresses.py [--count N | --quick]`.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from _figures import arguments, figure, machine_line, size

from store import Store, load_settings
from store.domain.clock import db_now
from store.domain.passwords import Hasher
from store.onboarding.email_lists import _check, parse_email_list
from store.onboarding.invitations import preview_invitations, preview_text, send_invitations

DEFAULT_COUNT = 10_000
QUICK_COUNT = 200
GOAL_MS = 1000.0
STALL_GOAL_MS = 50.0


def paste(count: int) -> str:
    """A messy real-world mix: Outlook, Gmail, bare, CSV-ish rows, some broken, some twice."""
    lines = []
    for i in range(count):
        form = i % 5
        if i % 50 == 7:
            lines.append(f"broken{i}@@example.org")
        elif i % 100 == 13:
            lines.append(f"p{i - 1}@example.org")  # a duplicate
        elif form == 0:
            lines.append(f'"Last{i}, First" <p{i}@example.org>;')
        elif form == 1:
            lines.append(f"First{i} Last <p{i}@example.org>,")
        elif form == 2:
            lines.append(f"p{i}@example.org")
        elif form == 3:
            lines.append(f"First{i}\tLast\tp{i}@example.org")
        else:
            lines.append(f"Zoë Ångström{i} p{i}@bücher.de")
    return "\n".join(lines)


async def seed(store: Store, count: int) -> None:
    """Every tenth address already has an account; every twentieth a pending invitation."""
    now = db_now()
    async with store.write("users") as tx:
        await tx.executemany(
            "INSERT INTO users (email, email_key, level, status, created_at, updated_at) "
            "VALUES (?1, lower(?1), 'member', 'active', ?2, ?3)",
            [(f"p{i}@example.org", now, now) for i in range(0, count, 10)],
        )
    pending = parse_email_list("\n".join(f"p{i}@example.org" for i in range(5, count, 20)))
    await send_invitations(store, pending.entries, level="member", actor="bench")


async def loop_stall(work: asyncio.Future[Any]) -> float:
    stall = 0.0
    last = time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        stall = max(stall, now - last - 0.001)
        last = now
    return stall


async def run(count: int) -> None:
    text = paste(count)
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings({"db": str(Path(folder) / "bench.db")}, environ={})
        async with await Store.open(settings, hasher=Hasher(), watch=False) as store:
            await seed(store, count)

            _check.cache_clear()
            started = time.perf_counter()
            parsed = parse_email_list(text)
            cold = time.perf_counter() - started

            started = time.perf_counter()
            parse_email_list(text + "\nnew@example.org")
            warm = time.perf_counter() - started

            started = time.perf_counter()
            preview = await preview_invitations(store, parsed)
            check = time.perf_counter() - started

            _check.cache_clear()
            started = time.perf_counter()
            task = asyncio.ensure_future(preview_text(store, text))
            stall = await loop_stall(task)
            full = await task
            both = time.perf_counter() - started
            assert full.invited_count(True) == preview.invited_count(True)

            started = time.perf_counter()
            result = await send_invitations(
                store, preview.entries_to_send(), level="member", actor="bench", reinvite=True
            )
            send = time.perf_counter() - started

    figure("pasted lines", f"{count:,}")
    figure("addresses found", f"{len(parsed.entries):,}")
    figure("problems (invalid + duplicates)", f"{len(parsed.problems):,}")
    figure(
        "parse, cold",
        f"{cold * 1000:.0f} ms",
        goal=f"< {GOAL_MS:.0f} ms",
        passed=cold * 1000 < GOAL_MS,
    )
    figure("parse again after a keystroke", f"{warm * 1000:.0f} ms")
    figure("preview against the database", f"{check * 1000:.0f} ms")
    figure(
        "parse (thread) + preview, cold",
        f"{both * 1000:.0f} ms",
        goal=f"< {GOAL_MS:.0f} ms",
        passed=both * 1000 < GOAL_MS,
    )
    figure(
        "largest event-loop stall meanwhile",
        f"{stall * 1000:.1f} ms",
        goal=f"< {STALL_GOAL_MS:.0f} ms",
        passed=stall * 1000 < STALL_GOAL_MS,
    )
    figure(
        "will invite / accounts / pending",
        f"{len(preview.new):,} / {len(preview.existing):,} / {len(preview.pending):,}",
    )
    figure(f"send {result.sent:,} in one transaction", f"{send * 1000:.0f} ms")


def main() -> None:
    parser = arguments(__doc__, default=DEFAULT_COUNT, quick=QUICK_COUNT)
    args = parser.parse_args()
    print(machine_line())
    asyncio.run(run(size(args, default=DEFAULT_COUNT, quick=QUICK_COUNT)))


if __name__ == "__main__":
    main()
