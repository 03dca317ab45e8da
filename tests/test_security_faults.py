"""Concurrency and faults: racing `usher serve` processes on one database, kill -9 in the middle
of a burst of signups, a full disk and a database locked for too long.

The races use real processes and real HTTP; every outcome is checked in the database itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from store import Settings, Store
from store.accounts.audit import record
from store.onboarding.email_lists import parse_email_list
from store.onboarding.invitations import send_invitations
from store.onboarding.links import Link, LinkDraft, create_link

from .fixtures_security import (
    FORM_FIELDS,
    GOOD_PASSWORD,
    CountingHasher,
    assert_html_page,
    assert_security_headers,
    csrf_from,
    open_world,
)
from .helpers import start_serve

SIGNUP = FORM_FIELDS["/join/{token:str}"]


# --- `usher serve` processes -------------------------------------------------------------------


@contextlib.contextmanager
def serving(db: Path, count: int) -> Iterator[list[tuple[subprocess.Popen[str], str]]]:
    servers: list[tuple[subprocess.Popen[str], str]] = []
    try:
        for _ in range(count):
            servers.append(start_serve(db, USHER_RATE_LIMIT="100000"))
        yield servers
    finally:
        for proc, _ in servers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in servers:
            try:
                _, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate(timeout=10)
            assert "Traceback" not in (err or ""), err[-3000:]


@contextlib.asynccontextmanager
async def browser_like(url: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        yield client


async def form_token(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text[:300]
    return csrf_from(page.text)


async def new_link(settings: Settings, **fields: Any) -> Link:
    async with await Store.open(settings, hasher=CountingHasher(), watch=False) as store:
        return await create_link(
            store, msgspec.structs.replace(LinkDraft(), **fields), actor="tester"
        )


async def scalar(settings: Settings, sql: str, *params: Any) -> Any:
    async with await Store.open(settings, hasher=CountingHasher(), watch=False) as store:
        return await store.engine.scalar(sql, params)


# --- races -----------------------------------------------------------------------------------


async def test_two_servers_racing_on_one_link_and_one_invitation(settings: Settings) -> None:
    """200 signups on a max-uses-10 link through two `usher serve` processes: exactly 10
    accounts. Then one invitation accepted through both at the same moment: one account."""
    link = await new_link(settings, max_uses=10, confirm_email=False)
    async with await Store.open(settings, hasher=CountingHasher(), watch=False) as store:
        await send_invitations(
            store, parse_email_list("ivy@example.org").entries, level="member", actor="t"
        )
        row = await store.engine.fetchone("SELECT payload FROM outbox WHERE kind = 'invitation'")
        assert row is not None
        invitation = str(msgspec.json.decode(row["payload"])["accept_url"]).rsplit("/", 1)[1]
    with serving(Path(settings.db), 2) as servers:
        async with browser_like(servers[0][1]) as one, browser_like(servers[1][1]) as two:
            path = f"/join/{link.token}"
            tokens = [await form_token(one, path), await form_token(two, path)]

            async def sign_up(n: int) -> httpx.Response:
                client, token = (one, tokens[0]) if n % 2 else (two, tokens[1])
                fields = {**SIGNUP, "_csrf_token": token, "email": f"racer{n}@example.org"}
                return await client.post(path, data=fields, follow_redirects=False)

            answers = await asyncio.gather(*(sign_up(n) for n in range(200)))
            statuses = [answer.status_code for answer in answers]
            assert statuses.count(303) == 10, statuses
            assert set(statuses) <= {303, 410}, statuses
            assert all(a.headers["location"] == "/signup/ready" for a in answers if a.is_redirect)

            invite_path = f"/invite/{invitation}"
            invite_tokens = [await form_token(one, invite_path), await form_token(two, invite_path)]
            accept = {**FORM_FIELDS["/invite/{token:str}"]}
            accepted = await asyncio.gather(
                *(
                    client.post(
                        invite_path,
                        data={**accept, "_csrf_token": token},
                        follow_redirects=False,
                    )
                    for client, token in [(one, invite_tokens[0]), (two, invite_tokens[1])] * 2
                )
            )
            locations = [a.headers.get("location") for a in accepted]
            assert locations.count("/invitation/accepted") == 1, locations
            assert all(a.status_code in {303, 410} for a in accepted)
    assert await scalar(settings, "SELECT count(*) FROM users WHERE link_id = ?", link.id) == 10
    assert await scalar(settings, "SELECT uses FROM invite_links WHERE id = ?", link.id) == 10
    assert await scalar(settings, "SELECT count(*) FROM users WHERE email = 'ivy@example.org'") == 1


# --- kill -9 -----------------------------------------------------------------------------------


async def test_kill_9_during_a_burst_of_signups_leaves_no_half_made_account(
    settings: Settings,
) -> None:
    link = await new_link(settings)  # with confirmation: account, token, email, audit in one tx
    db = Path(settings.db)
    proc, url = start_serve(db, USHER_RATE_LIMIT="100000")
    try:
        async with browser_like(url) as client:
            path = f"/join/{link.token}"
            token = await form_token(client, path)

            async def sign_up(n: int) -> int:
                fields = {**SIGNUP, "_csrf_token": token, "email": f"burst{n}@example.org"}
                try:
                    response = await client.post(path, data=fields, follow_redirects=False)
                except httpx.HTTPError:
                    return 0  # the server died under this request
                return response.status_code

            burst = [asyncio.create_task(sign_up(n)) for n in range(120)]

            def some_made() -> bool:
                with contextlib.closing(sqlite3.connect(db)) as conn:
                    return bool(conn.execute("SELECT count(*) FROM users").fetchone()[0] >= 5)

            for _ in range(600):
                if some_made() or all(task.done() for task in burst):
                    break
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            results = await asyncio.gather(*burst)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    assert 500 not in results
    assert results.count(0) > 0, "the kill hit requests in flight"
    # The file is sound, and every account that exists is whole.
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        users = conn.execute(
            "SELECT id, email, first_name, last_name, status, password_hash FROM users"
        ).fetchall()
        assert users, "some signups committed before the kill"
        for user_id, email, first, last, status, password_hash in users:
            assert (first, last, status) == ("Nia", "Ode", "unconfirmed")
            assert str(password_hash).startswith("$argon2id$")
            tokens = conn.execute(
                "SELECT count(*) FROM action_tokens"
                " WHERE user_id = ? AND purpose = 'confirm_email'",
                (user_id,),
            ).fetchone()
            mails = conn.execute(
                "SELECT count(*) FROM outbox WHERE recipient = ? AND kind = 'confirm_email'",
                (email,),
            ).fetchone()
            audit = conn.execute(
                "SELECT count(*) FROM audit WHERE subject = ? AND action = 'signed_up'",
                (email,),
            ).fetchone()
            assert (tokens, mails, audit) == ((1,), (1,), (1,)), email
        (uses,) = conn.execute("SELECT uses FROM invite_links WHERE id = ?", (link.id,)).fetchone()
        assert uses == len(users)
    # A restarted server serves on, and takes the next signup.
    with serving(db, 1) as [(_, url)]:
        async with browser_like(url) as client:
            assert (await client.get("/healthz")).status_code == 200
            token = await form_token(client, f"/join/{link.token}")
            fields = {**SIGNUP, "_csrf_token": token, "email": "after@example.org"}
            after = await client.post(f"/join/{link.token}", data=fields, follow_redirects=False)
            assert after.headers["location"] == "/signup/check-email"
    assert await scalar(settings, "SELECT count(*) FROM users") == len(users) + 1


# --- a full disk and a locked database -----------------------------------------------------------


def assert_busy_page(response: httpx.Response) -> None:
    assert_html_page(response, 503)
    assert_security_headers(response)
    assert "The service is busy" in response.text
    assert "try again" in response.text or "send the form again" in response.text
    assert int(response.headers["retry-after"]) > 0
    for leak in ("sqlite", "OperationalError", "database or disk is full", "locked"):
        assert leak not in response.text


async def fill_the_disk(store: Store) -> None:
    """Cap the file at its current size (`PRAGMA max_page_count` on the writer connection),
    then fill the audit log's free space, so the next signup's audit row cannot be written."""
    async with store.write() as tx:
        pages = await tx.fetchone("PRAGMA page_count")
        assert pages is not None
        capped = await tx.fetchone(f"PRAGMA max_page_count = {int(pages[0])}")
        assert capped is not None and capped[0] == pages[0]
    for size in (2000, 200, 20, 1):
        while True:
            try:
                async with store.write("audit") as tx:
                    await record(tx, "filler", "fill", "x" * size)  # type: ignore[arg-type]
            except sqlite3.OperationalError as error:
                assert "full" in str(error)
                break


async def test_a_full_disk_is_a_busy_page_and_a_retry_works(settings: Settings) -> None:
    async with open_world(settings, signed_in=False) as world:
        path = world.path("/join/{token:str}")
        token = csrf_from((await world.client.get(path)).text)
        fields = {**SIGNUP, "_csrf_token": token, "email": "full@example.org"}
        await fill_the_disk(world.store)
        full = await world.client.post(path, data=fields, follow_redirects=False)
        assert_busy_page(full)
        assert (
            await world.store.engine.scalar(
                "SELECT count(*) FROM users WHERE email = 'full@example.org'"
            )
            == 0
        )
        # Pages that only read still work while the disk is full.
        assert (await world.client.get("/login")).status_code == 200
        async with world.store.write() as tx:  # space is freed
            await tx.execute("PRAGMA max_page_count = 1000000")
        retry = await world.client.post(path, data=fields, follow_redirects=False)
        assert retry.status_code == 303


async def test_a_database_locked_too_long_is_a_busy_page_and_a_retry_works(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection (a backup tool, a stuck admin shell) holds the write lock for longer
    than busy_timeout (shortened here so the test is quick)."""
    monkeypatch.setattr("store.database.engine.BUSY_TIMEOUT_MS", 200)
    async with open_world(settings, signed_in=False) as world:
        path = world.path("/join/{token:str}")
        token = csrf_from((await world.client.get(path)).text)
        fields = {**SIGNUP, "_csrf_token": token, "email": "locked@example.org"}
        with contextlib.closing(sqlite3.connect(settings.db, isolation_level=None)) as holder:
            holder.execute("BEGIN IMMEDIATE")
            try:
                locked = await world.client.post(path, data=fields, follow_redirects=False)
                forgot = await world.client.post(
                    "/password/forgot",
                    data={"_csrf_token": token, "email": "sam@example.org"},
                    follow_redirects=False,
                )
            finally:
                holder.execute("ROLLBACK")
        assert_busy_page(locked)
        assert_busy_page(forgot)
        retry = await world.client.post(path, data=fields, follow_redirects=False)
        assert retry.status_code == 303
        assert (
            await world.store.engine.scalar(
                "SELECT count(*) FROM users WHERE email = 'locked@example.org'"
            )
            == 1
        )


async def test_the_busy_page_is_logged_without_a_traceback(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("store.database.engine.BUSY_TIMEOUT_MS", 100)
    async with open_world(settings, signed_in=False) as world:
        token = await world.token()
        with contextlib.closing(sqlite3.connect(settings.db, isolation_level=None)) as holder:
            holder.execute("BEGIN IMMEDIATE")
            try:
                with caplog.at_level("INFO", logger="usher.web"):
                    response = await world.client.post(
                        "/password/forgot", data={"_csrf_token": token, "email": "a@b.org"}
                    )
            finally:
                holder.execute("ROLLBACK")
    assert response.status_code == 503
    [entry] = [r for r in caplog.records if r.name == "usher.web"]
    assert entry.levelname == "WARNING" and entry.exc_info is None
    assert "503" in entry.getMessage()
    assert GOOD_PASSWORD not in entry.getMessage()
