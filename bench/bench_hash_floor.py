"""The physical floor of Usher's heavy work: one argon2id hash with Usher's parameters, and how
close `Hasher` (threads off the event loop, capped in flight) gets to hashes * time / cores.

Run: `make bench` or `.venv/bin/python bench/bench_hash_floor.py [N]`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

import argon2

from store.passwords import DEFAULT_MEMORY_KIB, DEFAULT_PARALLELISM, DEFAULT_TIME_COST, Hasher


def one_hash_seconds(samples: int = 15) -> float:
    hasher = argon2.PasswordHasher(
        time_cost=DEFAULT_TIME_COST,
        memory_cost=DEFAULT_MEMORY_KIB,
        parallelism=DEFAULT_PARALLELISM,
        type=argon2.Type.ID,
    )
    times = []
    for i in range(samples):
        started = time.perf_counter()
        hasher.hash(f"benchmark password {i}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def hasher_throughput(count: int) -> tuple[float, float]:
    """Wall time for `count` hashes through Usher's Hasher, and the largest loop stall."""
    hasher = Hasher()
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
    started = time.perf_counter()
    await asyncio.gather(*(hasher.hash(f"benchmark password {i}") for i in range(count)))
    wall = time.perf_counter() - started
    running = False
    await tick
    return wall, stall


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    cores = os.cpu_count() or 1
    single = one_hash_seconds()
    floor = count * single / cores
    wall, stall = asyncio.run(hasher_throughput(count))
    print(f"argon2id t={DEFAULT_TIME_COST} m={DEFAULT_MEMORY_KIB} KiB p={DEFAULT_PARALLELISM}")
    print(f"one hash (median of 15):      {single * 1000:8.1f} ms")
    print(f"cores:                        {cores:8d}")
    print(f"floor for {count} hashes:       {floor:8.2f} s  ({count / floor:.1f} hashes/s)")
    print(f"Hasher, {count} hashes:         {wall:8.2f} s  ({count / wall:.1f} hashes/s)")
    print(f"ratio to floor speed:         {floor / wall:8.2f}  (goal >= 0.9)")
    print(f"largest event-loop stall:     {stall * 1000:8.1f} ms  (goal < 50 ms)")


if __name__ == "__main__":
    main()
