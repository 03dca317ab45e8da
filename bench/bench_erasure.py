"""How long erasure holds the write lock on a big database: 50,000 users, 250,000 audit entries
and 100,000 messages; erasing one person, then ten in one transaction.

Erasure sweeps every text column of every table for the address (so tables added later are
covered too); this shows what that costs.
Run: `.venv/bin/python bench/bench_erasure.py [--count USERS | --quick]`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from _figures import arguments, machine_line, size
from _stalls import LoopStalls, stall_figure

from store import Store, load_settings
from store.accounts.erasure import erase_users
from store.domain.clock import db_now

USERS = 50_000
AUDIT_PER_USER = 5
MESSAGES_PER_USER = 2


async def fill(store: Store, users: int) -> None:
    now = db_now()
    async with store.write("users") as tx:
        await tx.executemany(
            "INSERT INTO users (email, email_key, first_name, last_name, level, status, "
            "created_at, updated_at) VALUES (?1, lower(?1), 'First', 'Last', 'member', 'active', "
            "?2, ?3)",
            [(f"person{i}@example.org", now, now) for i in range(users)],
        )
        await tx.executemany(
            "INSERT INTO audit (at, actor, action, subject, details) VALUES (?, 'alice', ?, ?, ?)",
            [
                (now, f"action{j}", f"person{i}@example.org", f'{{"user_id": {i}}}')
                for i in range(users)
                for j in range(AUDIT_PER_USER)
            ],
        )
        await tx.executemany(
            "INSERT INTO outbox (recipient, kind, payload, status, next_attempt_at, message_id, "
            "created_at) VALUES (?, 'welcome', ?, 'sent', ?, ?, ?)",
            [
                (
                    f"person{i}@example.org",
                    f'{{"first_name": "First", "sign_in_email": "person{i}@example.org"}}',
                    now,
                    f"<{i}.{j}@bench>",
                    now,
                )
                for i in range(users)
                for j in range(MESSAGES_PER_USER)
            ],
        )


async def main(users: int) -> None:
    print(machine_line())
    async with LoopStalls() as stalls:
        await erase(users)
    stall_figure(stalls)


async def erase(users: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings({"db": str(Path(folder) / "bench.db")}, environ={})
        async with await Store.open(settings, watch=False) as store:
            started = time.perf_counter()
            await fill(store, users)
            print(f"filled in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            for count in (1, 10):
                first = int(await store.engine.scalar("SELECT min(id) FROM users"))
                ids = list(range(first, first + count))
                started = time.perf_counter()
                report = await erase_users(store, ids, actor="bench")
                elapsed = time.perf_counter() - started
                assert len(report.erased) == count
                print(
                    f"erased {count:>2} of {users:,} users "
                    f"({users * AUDIT_PER_USER:,} audit entries, "
                    f"{users * MESSAGES_PER_USER:,} messages): {elapsed * 1000:,.0f} ms"
                )


if __name__ == "__main__":
    args = arguments(__doc__, default=USERS, quick=200).parse_args()
    asyncio.run(main(size(args, default=USERS, quick=200)))
