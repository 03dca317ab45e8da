"""Adding one person (`store.onboarding.single_user.add_user`) end to end on a real database file,
per password choice: checks, credential (argon2id for "set it now", off the loop), one transaction
with the account, its set-password token, its email and the audit entry.

Run: `make bench` or `.venv/bin/python bench/bench_add_user.py [--count N | --quick]`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time

from _figures import arguments, machine_line, size
from _stalls import LoopStalls, stall_figure

from store import Store, load_settings
from store.onboarding.single_user import PASSWORD_CHOICES, NewUserForm, add_user


async def main(count: int) -> None:
    print(machine_line())
    async with LoopStalls() as stalls:
        await add_users(count)
    stall_figure(stalls)


async def add_users(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings({"db": os.path.join(folder, "usher.db")}, environ={})
        async with await Store.open(settings, watch=False) as store:
            for choice in PASSWORD_CHOICES:
                times = []
                for i in range(count):
                    form = NewUserForm(
                        first_name="Ann",
                        last_name="Lee",
                        email=f"{choice}{i}@acme.org",
                        choice=choice,
                        password="correct horse battery staple",
                    )
                    started = time.perf_counter()
                    await add_user(store, form, actor="bench")
                    times.append(time.perf_counter() - started)
                print(
                    f"{choice:<9} {count} users: median {statistics.median(times) * 1000:6.1f} ms"
                    f"   max {max(times) * 1000:6.1f} ms"
                )


if __name__ == "__main__":
    args = arguments(__doc__, default=20, quick=3).parse_args()
    asyncio.run(main(size(args, default=20, quick=3)))
