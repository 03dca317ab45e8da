"""Small helpers for tests: free ports, waiting for a condition, running `usher` as a process,
a cheap hasher, links and signup forms, outbox reads, and the signup server on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar

from signup_server import create_app
from signup_server.runner import EmbeddedServer, make_server
from store import Store
from store.domain.passwords import Hasher
from store.onboarding.links import Link, LinkDraft, create_link
from store.onboarding.signup import SignupForm

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def usher_command(*args: str) -> list[str]:
    """`usher …` through the interpreter running the tests (no PATH assumptions)."""
    return [sys.executable, "-m", "console", *args]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USHER_")}
    env.update(extra)
    return env


def run_usher(
    *args: str,
    stdin: str | None = None,
    timeout: float = 60,
    variables: Mapping[str, str] | None = None,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """`usher …` run to the end from the repository root, output captured; `variables` (a
    mapping) and `env` (keywords) go on top of an environment without the caller's USHER_
    settings."""
    return subprocess.run(
        usher_command(*args),
        cwd=ROOT,
        env=child_env(**{**(variables or {}), **env}),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_serve(db: Path | str, *extra: str, **env: str) -> tuple[subprocess.Popen[str], str]:
    """`usher serve --port 0` on `db`; returns the process and the URL it printed."""
    proc = subprocess.Popen(
        usher_command("serve", "--db", str(db), "--port", "0", *extra),
        cwd=ROOT,
        env=child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(http://\S+)", line)
    if not match:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"usher serve printed no URL: {line!r} {err[-2000:]!r}")
    return proc, match.group(1)


def stop_serves(servers: list[tuple[subprocess.Popen[str], str]]) -> list[str]:
    """SIGTERM each server, wait for it; the tracebacks any of them printed."""
    for proc, _ in servers:
        proc.send_signal(signal.SIGTERM)
    errors = []
    for proc, _ in servers:
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=10)
        if "Traceback" in (err or ""):
            errors.append(err[-3000:])
    return errors


@contextlib.contextmanager
def two_servers(db: Path | str, **env: str) -> Iterator[list[str]]:
    """Two `usher serve` processes on one database file (`env`: their USHER_* settings); their
    URLs. Each must stop cleanly, without a traceback."""
    servers = [start_serve(db, **env), start_serve(db, **env)]
    try:
        yield [url for _, url in servers]
    finally:
        for proc, _ in servers:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in servers:
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate(timeout=10)
            assert "Traceback" not in (err or ""), err[-3000:]


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, interval: float = 0.05
) -> None:
    """Wait until `check()` is true; fail the test with a clear message after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


# --- records and the server in process -----------------------------------------------------

CHEAP = {"time_cost": 1, "memory_kib": 8}
"""argon2id parameters for tests: the same code paths, a fraction of a millisecond per hash."""

GOOD_PASSWORD = "correct horse battery staple"


def cheap_hasher() -> Hasher:
    return Hasher(**CHEAP)


async def make_link(store: Store, **fields: Any) -> Link:
    draft = msgspec.structs.replace(LinkDraft(), **fields)
    return await create_link(store, draft, actor="tester")


def form(email: str = "ann@example.org", **fields: str) -> SignupForm:
    values = {
        "email": email,
        "first_name": "Ann",
        "last_name": "Lee",
        "password": GOOD_PASSWORD,
        "password_confirm": GOOD_PASSWORD,
        **fields,
    }
    return SignupForm(**values)


async def outbox_rows(store: Store, kind: str | None = None) -> list[dict[str, Any]]:
    """Outbox rows, oldest first, with the payload decoded."""
    rows = await store.engine.fetchall(
        "SELECT * FROM outbox WHERE ? IS NULL OR kind = ? ORDER BY id", (kind, kind)
    )
    result = []
    for row in rows:
        item = dict(zip(row.keys(), row, strict=True))
        item["values"] = msgspec.json.decode(item["payload"])
        result.append(item)
    return result


def token_in(url: str, route: str) -> str:
    match = re.search(rf"/{route}/([A-Za-z0-9_-]+)", url)
    assert match, url
    return match.group(1)


async def age_user(store: Store, email: str, by: timedelta) -> None:
    """Move an account's creation (and its tokens) into the past."""
    from store.domain.clock import from_db, to_db

    async with store.write("users") as tx:
        row = await tx.fetchone("SELECT id, created_at FROM users WHERE email = ?", (email,))
        assert row is not None
        earlier = to_db(from_db(row["created_at"]) - by)
        await tx.execute(
            "UPDATE users SET created_at = ?, updated_at = ? WHERE id = ?",
            (earlier, earlier, row["id"]),
        )
        tokens = await tx.fetchall(
            "SELECT id, expires_at FROM action_tokens WHERE user_id = ?", (row["id"],)
        )
        for token in tokens:
            await tx.execute(
                "UPDATE action_tokens SET expires_at = ? WHERE id = ?",
                (to_db(from_db(token["expires_at"]) - by), token["id"]),
            )


@contextlib.asynccontextmanager
async def live_server(store: Store, sock: socket.socket) -> AsyncIterator[Litestar]:
    """The signup app under uvicorn on `sock`, on this event loop (as the console runs it)."""
    app = create_app(store, store.settings, secret_key=await store.secret_key())
    server: EmbeddedServer = make_server(app, graceful_seconds=1)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield app
    finally:
        server.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)
