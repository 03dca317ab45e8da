"""What one signup costs beside its hash, measured in-process and deterministically: SQL
statements and aiosqlite thread round trips per GET and per POST of `/join/{token}` (counted, so
a busy machine cannot move them), and CPU time per request (`time.process_time`, all threads).

The requests go straight into the ASGI app (no socket, no HTTP parser), with argon2 at its
cheapest, so what is left is Usher's own work: Litestar's middleware and handlers, the store and
the template. Not a benchmark itself: `bench_signup.py` prints these figures; run this file
(`.venv/bin/python bench/_signup_cost.py`) for the list of statements of one signup.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiosqlite
import msgspec
from litestar import Litestar, get
from litestar.enums import MediaType

from signup_server.app import create_app
from signup_server.security import csrf_config, post_limit, security_headers_hook
from store import Settings, Store, load_settings
from store.database.engine import read_data_version
from store.domain.passwords import Hasher
from store.onboarding.links import LinkDraft, create_link

PASSWORD = "correct horse battery staple 42"
_CSRF = re.compile(rb'name="_csrf_token" value="([^"]+)"')


@get("/hello", media_type=MediaType.HTML)
async def hello() -> str:
    return "<!doctype html><title>Hello</title><p>Hello, world</p>"


def hello_app(store: Store, settings: Settings, secret_key: str) -> Litestar:
    """Litestar's hello world with the signup server's security layer and nothing else."""
    return Litestar(
        route_handlers=[hello],
        csrf_config=csrf_config(settings, secret_key),
        middleware=[post_limit(store, settings)],
        before_send=[security_headers_hook(settings)],
        logging_config=None,
        openapi_config=None,
    )


class Tally:
    """Statements SQLite ran (each connection's trace hook) and calls into aiosqlite's threads."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.round_trips = 0

    def reset(self) -> None:
        self.statements.clear()
        self.round_trips = 0


@contextmanager
def counting_round_trips(tally: Tally) -> Iterator[None]:
    """Count every call that crosses into an aiosqlite connection's thread (one queue put and
    one loop wake-up each: the cost that dominates a cheap statement)."""
    original: Callable[..., Any] = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if fn is not read_data_version:  # the change feed's timed polls are not per request
            tally.round_trips += 1
        return await original(self, fn, *args, **kwargs)

    aiosqlite.Connection._execute = counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        aiosqlite.Connection._execute = original  # type: ignore[method-assign]


async def trace_statements(store: Store, tally: Tally) -> None:
    """Record each SQL statement the store's connections run (writer and reader; the change
    feed's timed `PRAGMA data_version` polls on the writer are not per request and are left out)."""

    def traced(sql: str) -> None:
        if sql != "PRAGMA data_version":
            tally.statements.append(" ".join(sql.split()))

    engine: Any = store.engine
    for conn in (engine._writer, engine._reader):
        await conn.set_trace_callback(traced)


class Asgi:
    """Just enough of an HTTP client to drive the app in-process: one cookie jar."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        headers = [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")]
        if self.cookies:
            jar = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            headers.append((b"cookie", jar.encode()))
        if body:
            headers.append((b"content-type", b"application/x-www-form-urlencoded"))
            headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"set-cookie":
                        pair = value.decode().split(";", 1)[0]
                        key, _, val = pair.partition("=")
                        self.cookies[key.strip()] = val.strip()
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def form(token: str, number: int) -> bytes:
    return urlencode(
        {
            "_csrf_token": token,
            "email": f"person{number}@example.org",
            "first_name": "Ann",
            "last_name": "Lee",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        }
    ).encode()


class Cost(msgspec.Struct, kw_only=True):
    get_statements: list[str]
    post_statements: list[str]
    get_round_trips: int
    """The page right after a signup (any commit makes the page read its link again)."""
    get_again_round_trips: int
    """The page again with no commit in between."""
    post_round_trips: int
    get_cpu_us: float
    """The page opened again and again (nothing changes in between)."""
    post_cpu_us: float
    signup_cpu_us: float
    """GET then POST, one signup after another (each page read right after a commit)."""
    hello_cpu_us: float
    """A Litestar hello-world with the same security layer, GET, same client."""


ROUNDS = 5
"""CPU per request is the least over this many rounds: a busy neighbour only adds."""


async def cpu_per_request(
    one_get: Callable[[], Awaitable[bytes]],
    one_post: Callable[[bytes], Awaitable[None]],
    requests: int,
) -> tuple[float, float, float]:
    """CPU seconds per GET, per POST (of the forms those GETs fetched) and per signup (GET then
    POST, one after another)."""
    size = max(1, requests // ROUNDS)
    gets, posts, signups = [], [], []
    for _ in range(ROUNDS):
        pages = []
        started = time.process_time()
        for _ in range(size):
            pages.append(await one_get())
        gets.append((time.process_time() - started) / size)
        started = time.process_time()
        for page in pages:
            await one_post(page)
        posts.append((time.process_time() - started) / size)
        started = time.process_time()
        for _ in range(size):
            await one_post(await one_get())
        signups.append((time.process_time() - started) / size)
    return min(gets), min(posts), min(signups)


async def cpu_per_get(client: Asgi, path: str, requests: int) -> float:
    size = max(1, requests // ROUNDS)
    for _ in range(20):
        await client.request("GET", path)
    rounds = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(size):
            status, _ = await client.request("GET", path)
            assert status == 200, status
        rounds.append((time.process_time() - started) / size)
    return min(rounds)


async def signup_cost(requests: int = 300) -> Cost:
    """Statements and round trips of one GET + POST, then CPU µs per GET and per POST over
    `requests` of each (after a warm-up), on a fresh database with an auto-accept link."""
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            {"db": str(Path(folder) / "cost.db"), "port": 0},
            environ={"USHER_RATE_LIMIT": "1000000"},
        )
        hasher = Hasher(time_cost=1, memory_kib=8)
        async with await Store.open(settings, hasher=hasher) as store:
            link = await create_link(
                store,
                LinkDraft(label="bench", auto_accept=True, confirm_email=False, expires_in=None),
                actor="bench",
            )
            app = create_app(store, settings, secret_key=await store.secret_key())
            client = Asgi(app)
            path = f"/join/{link.token}"
            numbers = iter(range(1_000_000))

            async def one_get() -> bytes:
                status, page = await client.request("GET", path)
                assert status == 200, status
                return page

            async def one_post(page: bytes) -> None:
                match = _CSRF.search(page)
                assert match is not None
                status, _ = await client.request(
                    "POST", path, form(match.group(1).decode(), next(numbers))
                )
                assert status == 303, status

            for _ in range(20):  # warm up: templates compiled, code paths taken
                await one_post(await one_get())
            tally = Tally()
            await trace_statements(store, tally)
            with counting_round_trips(tally):
                tally.reset()  # a GET right after a signup (the link changed: read afresh)
                page = await one_get()
                get_statements, get_trips = list(tally.statements), tally.round_trips
                tally.reset()  # the same page again, nothing changed in between
                await one_get()
                again_trips = tally.round_trips
                tally.reset()
                await one_post(page)
                post_statements, post_trips = list(tally.statements), tally.round_trips
            engine: Any = store.engine
            for conn in (engine._writer, engine._reader):
                await conn.set_trace_callback(None)

            get_cpu, post_cpu, signup_cpu = await cpu_per_request(one_get, one_post, requests)
            hello = Asgi(hello_app(store, settings, await store.secret_key()))
            get_hello = await cpu_per_get(hello, "/hello", requests)
    return Cost(
        get_statements=get_statements,
        post_statements=post_statements,
        get_round_trips=get_trips,
        get_again_round_trips=again_trips,
        post_round_trips=post_trips,
        get_cpu_us=get_cpu * 1e6,
        post_cpu_us=post_cpu * 1e6,
        signup_cpu_us=signup_cpu * 1e6,
        hello_cpu_us=get_hello * 1e6,
    )


def cheap_hash_cpu_us(times: int = 200) -> float:
    """CPU µs of one hash at the cheapest argon2 used above (part of each measured POST)."""
    hasher = Hasher(time_cost=1, memory_kib=8)
    started = time.process_time()
    for _ in range(times):
        hasher._hasher.hash(PASSWORD)
    return (time.process_time() - started) / times * 1e6


def main() -> None:
    cost = asyncio.run(signup_cost())
    print(f"GET: {len(cost.get_statements)} statements, {cost.get_round_trips} round trips")
    for sql in cost.get_statements:
        print(f"  {sql[:150]}")
    print(f"GET again (nothing changed): {cost.get_again_round_trips} round trips")
    print(f"POST: {len(cost.post_statements)} statements, {cost.post_round_trips} round trips")
    for sql in cost.post_statements:
        print(f"  {sql[:150]}")
    print(f"CPU per GET {cost.get_cpu_us:.0f} us (repeated), per POST {cost.post_cpu_us:.0f} us")
    print(f"CPU per signup, GET + POST {cost.signup_cpu_us:.0f} us")
    print(f"CPU per hello-world GET (same security layer) {cost.hello_cpu_us:.0f} us")
    print(f"(of which one cheapest-argon2 hash: {cheap_hash_cpu_us():.0f} us)")
    print(f"sqlite {sqlite3.sqlite_version}")


if __name__ == "__main__":
    main()
