"""The physical floor of Usher's heavy work: one argon2id hash with Usher's parameters, the floor
for N hashes on this machine's cores (N x one hash / cores), and how close `Hasher` (worker
threads off the event loop, capped in flight) gets to it.

To tell "the Hasher wastes cores" from "the machine did not give us the cores" it also runs the
same hashes on a bare thread pool (no asyncio) and reports the CPU time the process got: when
both runs fall short together and the process used fewer cores than it has, other work on the
machine had them.

Run: `make bench` or `.venv/bin/python bench/bench_hash_floor.py [--count N | --quick]`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import argon2
from _figures import arguments, cores, figure, machine_line, size

from store.passwords import DEFAULT_MEMORY_KIB, DEFAULT_PARALLELISM, DEFAULT_TIME_COST, Hasher

DEFAULT_COUNT = 200
QUICK_COUNT = 8
STALL_GOAL_MS = 50.0
RATIO_GOAL = 0.9


def password_hasher() -> argon2.PasswordHasher:
    return argon2.PasswordHasher(
        time_cost=DEFAULT_TIME_COST,
        memory_cost=DEFAULT_MEMORY_KIB,
        parallelism=DEFAULT_PARALLELISM,
        type=argon2.Type.ID,
    )


def one_hash_seconds(samples: int) -> float:
    """Median time of one hash on one thread (the median shrugs off a neighbour's burst)."""
    hasher = password_hasher()
    hasher.hash("warm-up password")
    times = []
    for i in range(samples):
        started = time.perf_counter()
        hasher.hash(f"benchmark password {i}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cpu_seconds() -> float:
    """CPU time this process got so far, all threads (user + system)."""
    times = os.times()
    return times.user + times.system


def thread_pool_run(count: int, threads: int) -> tuple[float, float]:
    """Wall and CPU seconds for `count` hashes on a bare pool of `threads` threads."""
    hasher = password_hasher()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        cpu, started = cpu_seconds(), time.perf_counter()
        list(pool.map(hasher.hash, (f"benchmark password {i}" for i in range(count))))
        return time.perf_counter() - started, cpu_seconds() - cpu


async def hasher_run(count: int) -> tuple[float, float, float]:
    """Wall and CPU seconds for `count` hashes through Usher's Hasher; the largest loop stall."""
    hasher = Hasher()
    await hasher.hash("warm-up password")  # starts the default executor's threads
    stall = 0.0
    running = True

    async def ticker() -> None:
        nonlocal stall
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            stall = max(stall, now - last - 0.001)
            last = now

    tick = asyncio.create_task(ticker())
    cpu, started = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(hasher.hash(f"benchmark password {i}") for i in range(count)))
    wall, used = time.perf_counter() - started, cpu_seconds() - cpu
    running = False
    await tick
    return wall, used, stall


def main() -> None:
    parser = arguments(__doc__, default=DEFAULT_COUNT, quick=QUICK_COUNT)
    args = parser.parse_args()
    count = size(args, default=DEFAULT_COUNT, quick=QUICK_COUNT)
    samples = 5 if args.quick else 15
    n = cores()

    print(machine_line())
    single = one_hash_seconds(samples)
    floor_rate = n / single
    pool_wall, pool_cpu = thread_pool_run(count, n)
    wall, used, stall = asyncio.run(hasher_run(count))
    hasher_rate, pool_rate = count / wall, count / pool_wall
    busy = used / wall
    cpu_per_hash = used / count

    params = f"t={DEFAULT_TIME_COST} m={DEFAULT_MEMORY_KIB // 1024}MiB p={DEFAULT_PARALLELISM}"
    figure("argon2id parameters", params)
    figure(f"one hash (median of {samples})", f"{single * 1000:.1f} ms")
    figure("cores", str(n))
    figure(f"floor for {count} hashes", f"{count / floor_rate:.2f} s")
    figure("floor speed (cores / one hash)", f"{floor_rate:.1f} hashes/s")
    figure(
        f"thread pool, {n} threads, no asyncio",
        f"{pool_rate:.1f} hashes/s",
        ratio=pool_rate / floor_rate,
    )
    figure(
        "Hasher throughput",
        f"{hasher_rate:.1f} hashes/s",
        goal=f">= {RATIO_GOAL:.2f}",
        ratio=hasher_rate / floor_rate,
        passed=hasher_rate / floor_rate >= RATIO_GOAL,
    )
    figure(
        "Hasher vs bare thread pool",
        f"{hasher_rate / pool_rate:.2f}x",
        goal=f">= {RATIO_GOAL:.2f}",
        ratio=hasher_rate / pool_rate,
        passed=hasher_rate / pool_rate >= RATIO_GOAL,
    )
    figure("cores busy during Hasher run", f"{busy:.2f} of {n}", ratio=busy / n)
    figure(
        "CPU time per hash, in parallel",
        f"{cpu_per_hash * 1000:.1f} ms",
        ratio=cpu_per_hash / single,
    )
    figure(
        "largest event-loop stall",
        f"{stall * 1000:.1f} ms",
        goal=f"< {STALL_GOAL_MS:.0f} ms",
        passed=stall * 1000 < STALL_GOAL_MS,
    )
    print(f"note: the thread pool got {pool_cpu / pool_wall:.2f} cores.")
    print(f"note: {why(busy, n, cpu_per_hash, single)}.")


def why(busy: float, n: int, cpu_per_hash: float, single: float) -> str:
    """One sentence on where the missing speed went, from CPU time rather than guesses."""
    if busy < 0.85 * n:
        return (
            f"the Hasher kept {n} hashes in flight but the process got only {busy:.2f} cores: "
            "other work on the machine held the rest"
        )
    if cpu_per_hash > 1.15 * single:
        return (
            f"all {n} cores were ours, but each hash cost {cpu_per_hash / single:.2f}x its "
            "single-thread CPU time: the cores slow each other (shared memory bandwidth/cache)"
        )
    return "the Hasher used every core at single-thread cost per hash"


if __name__ == "__main__":
    main()
