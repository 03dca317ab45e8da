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

import msgspec
from _figures import Usage, arguments, figure, machine_line, size
from _stalls import LoopStalls, stall_figure

from store import Settings, Store, load_settings
from store.messaging.delivery import DeliveryPolicy, DeliveryWorker
from store.onboarding.signup import sign_up_by_link
from tests.fixtures_postgres import postgres_database, start_server
from tests.fixtures_smtp import queue_messages, with_smtp
from tests.helpers import ROOT, cheap_hasher, child_env, form, make_link, usher_command

CONCURRENT = 8
"""Signups in flight at once (as a balancer's servers would have), shared by the servers."""
LOADGEN = Path(__file__).with_name("_loadgen.py")
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _tree_cpu_seconds(pid: int | None) -> float:
    """CPU time of a process, of its live children and of the children it has reaped: all
    of a PostgreSQL server's work (the postmaster and its backends), 0 without its pid."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parts = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(parts[1]) == pid:
            total += (int(parts[11]) + int(parts[12])) / TICKS
    return total


def _postmaster(server: Any) -> int | None:
    """The throwaway server's postmaster pid (None for USHER_TEST_POSTGRES_URL's server)."""
    folder = getattr(server, "_folder", None)
    if folder is None:
        return None
    return int((Path(folder) / "data" / "postmaster.pid").read_text().split()[0])


class Served(msgspec.Struct, frozen=True):
    rate: float
    """Signups per second."""
    server_cores: float
    """Cores the `usher serve` processes used meanwhile."""
    database_cores: float
    """Cores PostgreSQL's processes used meanwhile (SQLite's work is in the servers')."""
    other_cores: float
    """Cores the rest of the machine used meanwhile (not the servers, the database or the
    load generators): other people's work on a shared machine."""


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


async def _served_signups(
    db: str, servers: int, count: int, log: Path, postmaster: int | None = None
) -> Served:
    """`count` signups through `servers` `usher serve` processes on `db`, each through a link
    that confirms addresses (as by default)."""
    settings = load_settings({"db": db}, environ={})
    async with await Store.open(settings, hasher=cheap_hasher(), watch=False) as store:
        link = await make_link(store, max_uses=None)
    running = [_serve(db, log) for _ in range(servers)]
    try:
        urls = [f"{url}/join/{link.token}" for _, url in running]
        await asyncio.gather(*(_load(u, 2, 1, f"warm{n}") for n, u in enumerate(urls)))
        shares = [count // servers + (n < count % servers) for n in range(servers)]
        cpu_before = [_cpu_seconds(proc.pid) for proc, _ in running]
        database_before = _tree_cpu_seconds(postmaster)
        with Usage() as usage:
            results = await asyncio.gather(
                *(
                    _load(url, share, max(1, CONCURRENT // servers), f"s{servers}n{n}")
                    for n, (url, share) in enumerate(zip(urls, shares, strict=True))
                )
            )
        took = usage.wall
        cpu = sum(_cpu_seconds(proc.pid) for proc, _ in running) - sum(cpu_before)
        database = _tree_cpu_seconds(postmaster) - database_before
    finally:
        for proc, _ in running:
            proc.terminate()
        for proc, _ in running:
            proc.wait(timeout=60)
    done = sum(int(result["done"]) for result in results)
    if done != count:
        raise SystemExit(f"{done} of {count} signups made ({[r['statuses'] for r in results]})")
    loadgen = sum(float(result["cpu_seconds"]) for result in results)
    return Served(
        rate=count / took,
        server_cores=cpu / took,
        database_cores=database / took,
        other_cores=usage.others_cores((cpu + database + loadgen) / took),
    )


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
    sqlite = await _served_signups(os.path.join(folder, "served.db"), 1, count, log)
    figure(f"served signups, SQLite, 1 server ({count})", f"{sqlite.rate:.1f}/s")
    _cores("SQLite, 1", sqlite)
    per_core_one = 0.0
    for servers in (1, 2, 3):
        async with postgres_database(server) as url:
            served = await _served_signups(url, servers, count, log, _postmaster(server))
        ratio = served.rate / sqlite.rate
        if servers == 1:
            name = "served signups, PostgreSQL, 1 server"
            figure(name, f"{served.rate:.1f}/s", goal=">= 0.9", ratio=ratio, passed=ratio >= 0.9)
        else:
            name = f"served signups, PostgreSQL, {servers} servers"
            figure(name, f"{served.rate:.1f}/s", ratio=ratio)
        per_core_one = per_core_one or served.rate / max(served.server_cores, 1e-9)
        _cores(f"PostgreSQL, {servers}", served, per_core_one)


def _cores(label: str, served: Served, per_core_one: float = 0.0) -> None:
    """The cores lines of one run; the first is a ratio to one PostgreSQL server's."""
    per_core = served.rate / served.server_cores if served.server_cores else 0.0
    figure(
        f"  per server core, {label}",
        f"{per_core:.1f}/s/core",
        ratio=per_core / per_core_one if per_core_one else None,
    )
    figure(f"  cores: servers, {label}", f"{served.server_cores:.2f}")
    if label.startswith("PostgreSQL"):
        figure(f"  cores: database, {label}", f"{served.database_cores:.2f}")
    figure(f"  cores: other work, {label}", f"{served.other_cores:.2f}")


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

            async with LoopStalls() as stalls:  # beside both engines: it costs them alike
                sqlite = await _on_fresh(server, folder, "sqlite", 1, signups)
                one = await _on_fresh(server, folder, "postgresql", 1, signups)
                three = await _on_fresh(server, folder, "postgresql", 3, signups)
                figure(f"store signups, SQLite, 1 store ({count})", f"{sqlite:.0f}/s")
                figure("store signups, PostgreSQL, 1 store", f"{one:.0f}/s", ratio=one / sqlite)
                figure(
                    "store signups, PostgreSQL, 3 stores", f"{three:.0f}/s", ratio=three / sqlite
                )
                sqlite_claims = await _on_fresh(server, folder, "sqlite", 1, claims)
                pg_claims = await _on_fresh(server, folder, "postgresql", 3, claims)
            figure(f"claims, SQLite, 1 worker ({count * 10})", f"{sqlite_claims:.0f} msgs/s")
            figure(
                "claims, PostgreSQL, 3 workers",
                f"{pg_claims:.0f} msgs/s",
                ratio=pg_claims / sqlite_claims,
            )
            stall_figure(stalls)
    finally:
        server.stop()


if __name__ == "__main__":
    parsed = arguments(__doc__, default=300, quick=20).parse_args()
    asyncio.run(main(size(parsed, default=300, quick=20)))
