"""PostgreSQL against SQLite in the same run: signups through 1, 2 and 3 real `usher serve`
processes with real hashing (argon2id with the configured parameters), against one `usher
serve` on SQLite; the database's share of a signup (the store with the cheap test hasher);
outbox claims by 3 workers.

Each server gets its share of the signups from a load generator process of its own (as a
balancer would spread them), each a GET of the join page and a POST of the form. The servers'
CPU time is read from /proc, so "per server core" says how much each core the servers used
gave, and whether adding servers wastes any (on a machine with fewer cores than servers they
can only share them). Starts a throwaway PostgreSQL (tests/fixtures_postgres.py: Debian's
`postgresql`, or `USHER_TEST_POSTGRES_URL`).

Run: `make bench` or `.venv/bin/python bench/bench_postgres.py [--count N | --quick]`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _figures import arguments, figure, machine_line, size

from store import Settings, Store, load_settings
from store.delivery import DeliveryPolicy, DeliveryWorker
from store.signup import sign_up_by_link
from tests.fixtures_links import cheap_hasher, form, make_link
from tests.fixtures_postgres import postgres_database, start_server
from tests.fixtures_smtp import queue_messages, with_smtp
from tests.helpers import ROOT, child_env, usher_command

CONCURRENT = 8
"""Signups in flight at once (as a balancer's servers would have), shared by the servers."""
LOADGEN = Path(__file__).with_name("_loadgen.py")
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _serve(db: str, log: Path) -> tuple[subprocess.Popen[str], str]:
    """`usher serve --port 0` on `db` with the default (real) hashing; its URL."""
    with log.open("a") as err:
        proc = subprocess.Popen(
            usher_command("serve", "--db", db, "--port", "0"),
            cwd=ROOT,
            env=child_env(USHER_RATE_LIMIT="10000000"),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"usher serve printed no URL: {line!r}; see {log}")
    return proc, line[line.index("http://") :].split()[0]


async def _load(url: str, requests: int, concurrency: int, tag: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, str(LOADGEN), "signup", url, "--requests", str(requests)),
        *("--concurrency", str(concurrency), "--tag", tag),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"load generator failed ({process.returncode})")
    result: dict[str, Any] = json.loads(out)
    return result


async def _served_signups(db: str, servers: int, count: int, log: Path) -> tuple[float, float]:
    """(signups per second, server cores used) for `count` signups through `servers` `usher
    serve` processes on `db`, each through a link that confirms addresses (as by default)."""
    settings = load_settings({"db": db}, environ={})
    async with await Store.open(settings, hasher=cheap_hasher(), watch=False) as store:
        link = await make_link(store, max_uses=None)
    running = [_serve(db, log) for _ in range(servers)]
    try:
        urls = [f"{url}/join/{link.token}" for _, url in running]
        await asyncio.gather(*(_load(u, 2, 1, f"warm{n}") for n, u in enumerate(urls)))
        shares = [count // servers + (n < count % servers) for n in range(servers)]
        cpu_before = [_cpu_seconds(proc.pid) for proc, _ in running]
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                _load(url, share, max(1, CONCURRENT // servers), f"s{servers}n{n}")
                for n, (url, share) in enumerate(zip(urls, shares, strict=True))
            )
        )
        took = time.perf_counter() - started
        cpu = sum(_cpu_seconds(proc.pid) for proc, _ in running) - sum(cpu_before)
    finally:
        for proc, _ in running:
            proc.terminate()
        for proc, _ in running:
            proc.wait(timeout=60)
    done = sum(int(result["done"]) for result in results)
    if done != count:
        raise SystemExit(f"{done} of {count} signups made ({[r['statuses'] for r in results]})")
    return count / took, cpu / took


async def _signups(settings_list: list[Settings], count: int) -> float:
    """Signups per second: `count` signups on one link, spread over stores on the settings."""
    stores = [await Store.open(s, hasher=cheap_hasher(), watch=False) for s in settings_list]
    try:
        link = await make_link(stores[0], confirm_email=False, max_uses=None)
        queue = asyncio.Queue[int]()
        for i in range(count):
            queue.put_nowait(i)

        async def client(store: Store) -> None:
            while not queue.empty():
                i = queue.get_nowait()
                await sign_up_by_link(store, link.token, form(f"p{i}@example.org"), actor="b")

        started = time.perf_counter()
        await asyncio.gather(*(client(stores[n % len(stores)]) for n in range(CONCURRENT)))
        took = time.perf_counter() - started
        made = await stores[0].engine.scalar("SELECT count(*) FROM users")
        assert made == count, (made, count)
        return count / took
    finally:
        for store in stores:
            await store.close()


async def _claims(settings_list: list[Settings], count: int) -> float:
    """Messages claimed per second by one worker per store, batches of 50, until none left."""
    stores = [await Store.open(s, watch=False) for s in settings_list]
    try:
        await queue_messages(stores[0], [f"p{i}@example.org" for i in range(count)])
        taken: list[int] = []

        async def drain(store: Store, n: int) -> None:
            worker = DeliveryWorker(store, None, DeliveryPolicy(batch=50), f"b{n}:{os.getpid()}:x")
            try:
                while batch := await worker.claim():
                    taken.extend(m.id for m in batch)
            finally:
                worker.release_mark()

        started = time.perf_counter()
        await asyncio.gather(*(drain(store, n) for n, store in enumerate(stores)))
        took = time.perf_counter() - started
        assert sorted(taken) == sorted(set(taken)) and len(taken) == count
        return count / took
    finally:
        for store in stores:
            await store.close()


async def _on_fresh(
    server: object,
    folder: str,
    engine: str,
    stores: int,
    run: Callable[[list[Settings]], Awaitable[float]],
) -> float:
    extra = {"port": 0, "rate_limit": 100_000}
    if engine == "sqlite":
        path = os.path.join(folder, f"u{time.monotonic_ns()}.db")
        settings = with_smtp(load_settings({"db": path, **extra}, environ={}), "smtp://127.0.0.1:9")
        return await run([settings] * stores)
    async with postgres_database(server) as url:  # type: ignore[arg-type]
        settings = with_smtp(load_settings({"db": url, **extra}, environ={}), "smtp://127.0.0.1:9")
        return await run([settings] * stores)


async def _served(server: Any, folder: str, count: int) -> None:
    """Signups through `usher serve` processes: 1 on SQLite, then 1, 2 and 3 on PostgreSQL."""
    log = Path(folder) / "serve.log"
    sqlite, sqlite_cores = await _served_signups(os.path.join(folder, "served.db"), 1, count, log)
    figure(f"served signups, SQLite, 1 server ({count})", f"{sqlite:.1f}/s")
    figure("  per server core, SQLite, 1", f"{sqlite / sqlite_cores:.1f}/s/core")
    figure("  server cores used, SQLite, 1", f"{sqlite_cores:.2f}")
    per_core_one = 0.0
    for servers in (1, 2, 3):
        async with postgres_database(server) as url:
            rate, used = await _served_signups(url, servers, count, log)
        per_core = rate / used if used else 0.0
        per_core_one = per_core_one or per_core
        if servers == 1:
            figure(
                "served signups, PostgreSQL, 1 server",
                f"{rate:.1f}/s",
                goal=">= 0.9",
                ratio=rate / sqlite,
                passed=rate / sqlite >= 0.9,
            )
        else:
            figure(
                f"served signups, PostgreSQL, {servers} servers",
                f"{rate:.1f}/s",
                ratio=rate / sqlite,
            )
        figure(
            f"  per server core, PostgreSQL, {servers}",
            f"{per_core:.1f}/s/core",
            ratio=per_core / per_core_one,
        )
        figure(f"  server cores used, PostgreSQL, {servers}", f"{used:.2f}")


async def main(count: int) -> None:
    print(machine_line(), flush=True)
    server = start_server()
    try:
        with tempfile.TemporaryDirectory() as folder:
            await _served(server, folder, count)

            async def signups(settings: list[Settings]) -> float:
                return await _signups(settings, count)

            async def claims(settings: list[Settings]) -> float:
                return await _claims(settings, count * 10)

            sqlite = await _on_fresh(server, folder, "sqlite", 1, signups)
            one = await _on_fresh(server, folder, "postgresql", 1, signups)
            three = await _on_fresh(server, folder, "postgresql", 3, signups)
            figure(f"store signups, SQLite, 1 store ({count})", f"{sqlite:.0f}/s")
            figure("store signups, PostgreSQL, 1 store", f"{one:.0f}/s", ratio=one / sqlite)
            figure("store signups, PostgreSQL, 3 stores", f"{three:.0f}/s", ratio=three / sqlite)
            sqlite_claims = await _on_fresh(server, folder, "sqlite", 1, claims)
            pg_claims = await _on_fresh(server, folder, "postgresql", 3, claims)
            figure(f"claims, SQLite, 1 worker ({count * 10})", f"{sqlite_claims:.0f} msgs/s")
            figure(
                "claims, PostgreSQL, 3 workers",
                f"{pg_claims:.0f} msgs/s",
                ratio=pg_claims / sqlite_claims,
            )
    finally:
        server.stop()


if __name__ == "__main__":
    parsed = arguments(__doc__, default=300, quick=20).parse_args()
    asyncio.run(main(size(parsed, default=300, quick=20)))
