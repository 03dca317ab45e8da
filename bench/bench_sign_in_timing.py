"""Sign-in timing for a known address with a wrong password against an unknown address, with
Usher's production argon2id parameters: both do one verify, so the medians should be close.

The tests prove the structure (the hasher is called either way); this only prints the times.
Run: `make bench` or `.venv/bin/python bench/bench_sign_in_timing.py [--count N | --quick]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import msgspec
from _figures import arguments, machine_line, size
from _stalls import LoopStalls, stall_figure

from store import Store, load_settings
from store.accounts.auth import SignInFailed, sign_in
from store.accounts.throttle import clear_failures
from store.onboarding.links import LinkDraft, create_link
from store.onboarding.signup import SignupForm, sign_up_by_link

PASSWORD = "correct horse battery staple"


async def attempt(store: Store, email: str) -> float:
    async with store.write() as tx:  # the per-address throttle would answer before any verify
        await clear_failures(tx, email)
    started = time.perf_counter()
    with contextlib.suppress(SignInFailed):
        await sign_in(store, email, "not the password", actor="bench")
    return time.perf_counter() - started


async def main(rounds: int) -> None:
    print(machine_line())
    async with LoopStalls() as stalls:
        await sign_ins(rounds)
    stall_figure(stalls)


async def sign_ins(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings({"db": str(Path(folder) / "bench.db")}, environ={})
        async with await Store.open(settings, watch=False) as store:
            link = await create_link(
                store, msgspec.structs.replace(LinkDraft(), confirm_email=False), actor="bench"
            )
            form = SignupForm(
                email="ann@example.org",
                first_name="Ann",
                last_name="Lee",
                password=PASSWORD,
                password_confirm=PASSWORD,
            )
            await sign_up_by_link(store, link.token, form, actor="bench")
            await attempt(store, "warm-up@example.org")
            known, unknown = [], []
            for _ in range(rounds):  # interleaved, so drift affects both alike
                known.append(await attempt(store, "ann@example.org"))
                unknown.append(await attempt(store, "nobody@example.org"))
    k, u = statistics.median(known), statistics.median(unknown)
    print(f"sign-in, known address, wrong password: median {k * 1000:.1f} ms over {rounds}")
    print(f"sign-in, unknown address:               median {u * 1000:.1f} ms over {rounds}")
    print(f"difference: {abs(k - u) * 1000:.1f} ms ({abs(k - u) / max(k, u) * 100:.0f}%)")


if __name__ == "__main__":
    args = arguments(__doc__, default=30, quick=3).parse_args()
    asyncio.run(main(size(args, default=30, quick=3)))
