"""What keeps a signup cheap, and what must not change while it is: few statements in ONE
transaction (counted through SQLite's trace hook, not timed), the blank signup page rendered
once yet byte for byte the page Litestar would render, link changes seen by the page at once,
deferred audit rows rolled back with their transaction, and the fast time conversions giving
exactly the old text and values."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiosqlite
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from signup_server.join import join_form_page
from store import Settings, Store
from store.accounts.audit import record
from store.database.engine import read_data_version
from store.domain.clock import DB_FORMAT, from_db, to_db
from store.onboarding.links import revoke_link
from store.onboarding.signup import SignupForm, sign_up_by_link

from .fixtures_security import csrf_from
from .helpers import GOOD_PASSWORD, age_user, make_link, outbox_rows

Client = AsyncTestClient[Litestar]


class Counted:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.round_trips = 0


@contextlib.asynccontextmanager
async def counting(store: Store, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Counted]:
    """Statements the store's writer and reader run, and calls into their threads."""
    counted = Counted()
    original: Any = aiosqlite.Connection._execute

    async def execute(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if fn is not read_data_version:  # the change feed's timed polls are not per request
            counted.round_trips += 1
        return await original(self, fn, *args, **kwargs)

    def trace(sql: str) -> None:
        if sql != "PRAGMA data_version":
            counted.statements.append(" ".join(sql.split()))

    engine: Any = store.engine
    connections = (engine._writer, engine._reader)
    for conn in connections:
        await conn.set_trace_callback(trace)
    monkeypatch.setattr(aiosqlite.Connection, "_execute", execute)
    try:
        yield counted
    finally:
        monkeypatch.undo()
        for conn in connections:
            await conn.set_trace_callback(lambda sql: None)


def fields(csrf: str, email: str = "ann@example.org") -> dict[str, str]:
    return {
        "_csrf_token": csrf,
        "email": email,
        "first_name": "Ann",
        "last_name": "Lee",
        "password": GOOD_PASSWORD,
        "password_confirm": GOOD_PASSWORD,
    }


async def test_a_signup_is_one_transaction_of_few_statements(
    fast_store: Store, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = await make_link(fast_store, auto_accept=True, confirm_email=False)
    path = f"/join/{link.token}"
    async with counting(fast_store, monkeypatch) as get:
        page = await client.get(path)
    assert page.status_code == 200
    [lookup] = get.statements
    assert lookup.startswith("SELECT * FROM invite_links WHERE token") and link.token in lookup
    async with counting(fast_store, monkeypatch) as post:
        answer = await client.post(path, data=fields(csrf_from(page.text)), follow_redirects=False)
    assert answer.status_code == 303
    limit, sql = post.statements[:4], post.statements[4:]
    assert [" ".join(s.split()[:3]) for s in limit] == [  # the POST limit (request_limits)
        "SELECT at FROM",
        "BEGIN IMMEDIATE",
        "INSERT INTO client_events",
        "DELETE FROM client_events",
    ]
    assert sql[0] == "COMMIT"
    sql = sql[1:]
    assert sql[0].startswith("SELECT * FROM invite_links WHERE token")  # before the hash
    tx = sql[sql.index("BEGIN IMMEDIATE") :]
    assert tx[-1] == "COMMIT" and sql.count("BEGIN IMMEDIATE") == sql.count("COMMIT") == 1
    kinds = [" ".join(s.split()[:3]) for s in tx[1:-1]]
    assert kinds[0].startswith("SELECT EXISTS")  # pending expiry, existing address, the link
    assert kinds[1:] == [
        "UPDATE invite_links SET",
        "INSERT INTO users",
        "INSERT INTO outbox",
        "INSERT INTO audit",
    ]
    assert len(sql) <= 8 and post.round_trips <= 6 + 3  # was 11 statements, 29 round trips
    # (+3: the POST limit's read, its conditional insert, its commit)
    assert await fast_store.engine.scalar("SELECT uses FROM invite_links") == 1


async def test_the_page_again_reads_nothing_until_something_changes(
    fast_store: Store, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = await make_link(fast_store)
    path = f"/join/{link.token}"
    assert (await client.get(path)).status_code == 200
    async with counting(fast_store, monkeypatch) as again:
        assert (await client.get(path)).status_code == 200
    assert again.statements == [] and again.round_trips == 0
    async with fast_store.write() as tx:  # any commit, even one announcing no topic
        await tx.execute("UPDATE invite_links SET expires_at = '2000-01-01T00:00:00.000000Z'")
    assert (await client.get(path)).status_code == 410


async def test_the_page_stops_at_once_when_the_link_is_revoked(
    fast_store: Store, client: Client
) -> None:
    link = await make_link(fast_store)
    path = f"/join/{link.token}"
    assert (await client.get(path)).status_code == 200
    await revoke_link(fast_store, link.id, actor="t")
    assert (await client.get(path)).status_code == 410


async def test_another_process_s_change_reaches_the_page_within_a_poll(
    fast_store: Store, client: Client, settings: Settings
) -> None:
    link = await make_link(fast_store)
    path = f"/join/{link.token}"
    assert (await client.get(path)).status_code == 200
    with contextlib.closing(sqlite3.connect(settings.db, isolation_level=None)) as other:
        other.execute("UPDATE invite_links SET revoked_at = '2000-01-01T00:00:00.000000Z'")
    status = 200
    for _ in range(100):  # the change feed polls every 0.1 s; no timing is asserted
        status = (await client.get(path)).status_code
        if status == 410:
            break
        await asyncio.sleep(0.05)
    assert status == 410


async def test_nothing_is_kept_while_other_processes_are_not_watched(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        assert store.engine.read_cache() is None


async def test_the_kept_page_is_the_page_litestar_renders(
    fast_store: Store, client: Client, settings: Settings
) -> None:
    link = await make_link(
        fast_store, level="admin", auto_accept=False, password="opensesame", domains=("acme.org",)
    )
    path = f"/join/{link.token}"
    first, again = await client.get(path), await client.get(path)
    token = csrf_from(first.text)
    assert again.text == first.text and first.headers["content-type"] == "text/html; charset=utf-8"
    fresh = join_form_page(link, link.token)
    engine = client.app.template_engine
    assert engine is not None and fresh.template_name is not None
    field = f'<input type="hidden" name="_csrf_token" value="{token}" />'
    expected = engine.get_template(fresh.template_name).render(**fresh.context, csrf_input=field)
    assert first.text == expected
    async with AsyncTestClient(client.app) as stranger:  # no cookie yet: a token of its own
        theirs = await stranger.get(path)
    assert csrf_from(theirs.text) != token
    assert theirs.text.replace(csrf_from(theirs.text), token) == first.text


async def test_an_address_left_unconfirmed_too_long_signs_up_afresh_in_one_go(
    fast_store: Store,
) -> None:
    """The transaction's one read sees the stale account, expires it (its use comes back) and
    looks again: the address is free, one use is taken, the old account is gone."""
    link = await make_link(fast_store, max_uses=3)
    form = SignupForm(
        email="ann@example.org",
        first_name="Ann",
        last_name="Lee",
        password=GOOD_PASSWORD,
        password_confirm=GOOD_PASSWORD,
    )
    first = await sign_up_by_link(fast_store, link.token, form, actor="w")
    await age_user(fast_store, "ann@example.org", timedelta(hours=25))
    again = await sign_up_by_link(fast_store, link.token, form, actor="w")
    assert first.kind == again.kind == "check_email"
    engine = fast_store.engine
    assert await engine.scalar("SELECT uses FROM invite_links") == 1
    [row] = await engine.fetchall("SELECT created_at FROM users")
    assert from_db(str(row["created_at"])) > datetime.now(UTC) - timedelta(hours=1)  # the new one
    actions = [e.action for e in await fast_store.audit_entries()]
    assert actions.count("unconfirmed_expired") == 1 and actions.count("signed_up") == 2
    assert len(await outbox_rows(fast_store, "confirm_email")) == 2
    assert await outbox_rows(fast_store, "account_exists") == []


async def test_deferred_audit_rows_go_or_stay_with_their_transaction(fast_store: Store) -> None:
    engine = fast_store.engine
    with pytest.raises(RuntimeError):
        async with fast_store.write() as tx:
            await record(tx, "t", "rolled_back")  # type: ignore[arg-type]
            await tx.execute("UPDATE meta SET value = value WHERE key = 'secret_key'")
            raise RuntimeError("after the audit row was written")
    async with fast_store.write() as tx:
        # The last thing: it goes with the COMMIT.
        await record(tx, "t", "kept")  # type: ignore[arg-type]
    actions = await engine.fetchall("SELECT action FROM audit WHERE actor = 't'")
    assert [row["action"] for row in actions] == ["kept"]
    with pytest.raises(sqlite3.OperationalError):
        async with fast_store.write() as tx:
            await record(tx, "t", "with a broken statement")  # type: ignore[arg-type]
            tx.defer("INSERT INTO no_such_table VALUES (1)")
    assert await engine.scalar("SELECT count(*) FROM audit WHERE actor = 't'") == 1


def moments() -> Iterator[datetime]:
    base = datetime(2026, 11, 25, 18, 30, 1, 123456, tzinfo=UTC)
    for days in (-200_000, -1, 0, 1, 3650, 700_000):
        for micro in (0, 1, 999_999):
            moment = base.replace(microsecond=micro) + timedelta(days=days)
            yield moment
            yield moment.astimezone(timezone(timedelta(hours=-7, minutes=-30)))


def test_times_read_and_write_exactly_as_before() -> None:
    for moment in moments():
        text = to_db(moment)
        assert text == moment.astimezone(UTC).strftime(DB_FORMAT)
        back = from_db(text)
        assert back == datetime.strptime(text, DB_FORMAT).replace(tzinfo=UTC) == moment
        assert back.tzinfo is UTC
    with pytest.raises(ValueError):
        from_db("2026-11-25 18:30:01.123456Z")
