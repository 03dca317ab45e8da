"""Erasure: a person's address leaves no trace in any table (nor in the file's bytes), the audit
keeps the events under a pseudonym, others' data stays; `usher users delete`; the Users key.
Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
from textual.widgets import DataTable

from console.app import UsherApp
from console.dialogs.ask import AskDialog
from store import Settings, Store
from store.accounts.auth import set_password_by_token, sign_in
from store.accounts.erasure import erase_users, pseudonym
from store.accounts.users import send_set_password_link, set_level
from store.database.dialect import is_postgres_url
from store.onboarding.approvals import approve, reject, send_pending_digest
from store.onboarding.signup import confirm_email, sign_up_by_link

from .fixtures_invitations import invite
from .fixtures_operations import (
    file_mentions,
    hooked_store,
    receiver,
    tables_mentioning,
)
from .fixtures_postgres import (
    postgres_files_mention,
    settings_on_both_engines,
    sync_rows,
    sync_run,
)
from .fixtures_users import add_user
from .helpers import (
    GOOD_PASSWORD,
    child_env,
    eventually,
    form,
    make_link,
    outbox_rows,
    run_usher,
    token_in,
)

__all__ = ["hooked_store", "receiver", "settings_on_both_engines"]

TARGET = "Erin.Zyxwerth@Example.org"
STORED = "Erin.Zyxwerth@example.org"
SURNAME = "Zyxwerth"


async def _target_everywhere(store: Store) -> int:
    """The person leaves traces in every corner Usher has: an invitation, a link signup with a
    confirmation, an admin digest, an approval, a session, a level change, a set-password link,
    another person's rejection reason, a link label, and webhook events."""
    await invite(store, f"Erin {SURNAME} <{TARGET}>")
    link = await make_link(store, auto_accept=False, label=f"for {TARGET.lower()}")
    signed = await sign_up_by_link(
        store, link.token, form(TARGET, first_name="Erin", last_name=SURNAME), actor="web 10.1.1.1"
    )
    assert signed.user_id is not None
    [mail] = await outbox_rows(store, "confirm_email")
    confirmed = await confirm_email(
        store, token_in(mail["values"]["confirm_url"], "confirm"), actor="web"
    )
    assert confirmed.set_password_token is not None
    await set_password_by_token(
        store, confirmed.set_password_token, GOOD_PASSWORD, GOOD_PASSWORD, actor="web"
    )
    other = await add_user(store, "bob@example.org", first="Bob", last="Stone")
    assert await send_pending_digest(store) == 2
    await approve(store, [signed.user_id], actor="alice")
    await reject(store, [other], actor="alice", reason=f"same person as {TARGET}")
    await sign_in(store, STORED, GOOD_PASSWORD, actor="web 10.1.1.1")
    await set_level(store, [signed.user_id], "manager", actor="alice")
    await send_set_password_link(store, signed.user_id, actor="alice")
    return signed.user_id


async def test_erasure_leaves_no_trace_of_the_address_anywhere(hooked_store: Store) -> None:
    hooked_store.settings = msgspec.structs.replace(
        hooked_store.settings, notify=["boss@example.org"]
    )
    user_id = await _target_everywhere(hooked_store)
    db = hooked_store.settings.db
    before = {table for table, _, _ in tables_mentioning(db, TARGET)}
    assert {"users", "invitations", "outbox", "audit", "invite_links"} <= before
    assert await hooked_store.engine.scalar("SELECT count(*) FROM sessions") == 1
    assert _files_mention(db, TARGET)

    report = await erase_users(hooked_store, [user_id, 999], actor="alice")

    assert report.not_found == [999]
    [erased] = report.erased
    assert erased.pseudonym == pseudonym(user_id) == f"user#{user_id}"
    assert erased.invitations_removed == 1 and erased.messages_removed >= 5
    assert tables_mentioning(db, TARGET) == []
    assert tables_mentioning(db, SURNAME) == []
    for table in ("sessions", "action_tokens"):
        count = await hooked_store.engine.scalar(
            f"SELECT count(*) FROM {table} WHERE user_id = ?",  # noqa: S608 - constant names
            (user_id,),
        )
        assert count == 0
    # The audit keeps every event, under the pseudonym; the erasure itself is audited.
    subjects = [
        str(row["subject"])
        for row in await hooked_store.engine.fetchall("SELECT subject FROM audit ORDER BY id")
    ]
    alias = f"user#{user_id}"
    assert subjects.count(alias) >= 5
    deleted = await hooked_store.engine.fetchone(
        "SELECT * FROM audit WHERE action = 'user_deleted'"
    )
    assert deleted is not None and deleted["subject"] == alias and deleted["actor"] == "alice"
    # Someone else's data stays (their rejection reason now names the pseudonym).
    bob = await hooked_store.engine.fetchone("SELECT * FROM users WHERE email = 'bob@example.org'")
    assert bob is not None and bob["decision_reason"] == f"same person as {alias}"
    # Their undelivered webhook events are cancelled (never rewritten); `user.deleted` says
    # they are gone.
    bodies = [
        msgspec.json.decode(row["payload"])
        for row in await hooked_store.engine.fetchall(
            "SELECT payload FROM outbox WHERE channel = 'webhook' ORDER BY id"
        )
    ]
    about = [body for body in bodies if body["user"]["id"] == user_id]
    assert [body["type"] for body in about] == ["user.deleted"]
    assert all(body["user"] == {"id": user_id} for body in about)
    # And not in the files' bytes either: on SQLite deleted cells are overwritten and the log
    # folded in; on PostgreSQL the changed tables were rewritten without their dead tuples.
    assert not _files_mention(db, TARGET)
    if not is_postgres_url(db):
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
        conn.close()
        assert not file_mentions(Path(db), TARGET)


def _files_mention(db: str, needle: str) -> bool:
    """The SQLite file and its log, or the PostgreSQL database's table and index files."""
    if is_postgres_url(db):
        return postgres_files_mention(db, needle)
    return file_mentions(Path(db), needle)


async def test_erasure_is_one_transaction_and_gives_an_unconfirmed_use_back(
    hooked_store: Store,
) -> None:
    link = await make_link(hooked_store, max_uses=1)
    signed = await sign_up_by_link(hooked_store, link.token, form("ann@example.org"), actor="w")
    kept = await add_user(hooked_store, "joann@example.org", status="active")
    assert await hooked_store.engine.scalar("SELECT uses FROM invite_links") == 1
    assert signed.user_id is not None
    report = await erase_users(hooked_store, [signed.user_id], actor="alice")
    assert report.erased[0].link_use_returned
    assert await hooked_store.engine.scalar("SELECT uses FROM invite_links") == 0
    # An address that merely contains the erased one is someone else's: left alone.
    assert await hooked_store.engine.scalar("SELECT email FROM users") == "joann@example.org"
    assert kept


async def test_a_table_added_later_even_without_a_primary_key_is_swept_too(
    hooked_store: Store,
) -> None:
    """The sweep reads the engine's catalogue (SQLite's or PostgreSQL's), not a list of tables:
    a table made outside Usher's migrations, without a primary key, is redacted as well."""
    db = hooked_store.settings.db
    gone = await add_user(hooked_store, "ann@example.org", status="active")
    sync_run(db, "CREATE TABLE notes_added_later (body TEXT, n INTEGER)")
    sync_run(db, "INSERT INTO notes_added_later VALUES ('call Ann@example.org', 1), ('x', 2)")
    await erase_users(hooked_store, [gone], actor="alice")
    assert tables_mentioning(db, "ann@example.org") == []
    rows = sync_rows(db, "SELECT body FROM notes_added_later ORDER BY n")
    assert [row["body"] for row in rows] == [f"call user#{gone}", "x"]


async def test_usher_users_delete_asks_or_needs_yes(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        first = await add_user(store, "one@example.org", status="active")
        await add_user(store, "two@example.org", status="active")
    env = child_env()
    refused = run_usher("users", "delete", str(first), "--db", settings.db, stdin="", variables=env)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    done = run_usher(
        *("users", "delete", str(first), "two@example.org", "nobody", "--yes", "--json"),
        *("--db", settings.db),
        stdin="",
        variables=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [entry["id"] for entry in result["deleted"]] == [first, first + 1]
    assert result["deleted"][0]["pseudonym"] == f"user#{first}"
    assert result["not_found"] == ["nobody"]
    assert "no user 'nobody'" in done.stderr
    assert tables_mentioning(settings.db, "@example.org") == []
    again = run_usher("users", "delete", str(first), "--yes", "--db", settings.db, variables=env)
    assert again.returncode == 2 and "nothing was erased" in again.stderr


async def test_users_screen_erases_after_asking_once(settings: Settings) -> None:
    async with await Store.open(settings, watch=False) as store:
        await add_user(store, "stays@example.org", status="active")
        gone = await add_user(store, "leaves@example.org", status="active")
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f8")

        def rows_shown(count: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                await pilot.pause()
                tables = app.screen.query("#users")
                return bool(tables) and tables.first(DataTable).row_count == count

            return check

        await eventually(rows_shown(2))
        table = app.screen.query_one("#users", DataTable)
        table.move_cursor(row=table.get_row_index(str(gone)))
        await pilot.press("delete")

        async def asking() -> bool:
            await pilot.pause()
            return isinstance(app.screen, AskDialog)

        await eventually(asking)
        await pilot.press("y")
        assert app.store is not None
        store = app.store

        async def erased() -> bool:
            return bool(await store.engine.scalar("SELECT count(*) FROM users") == 1)

        await eventually(erased)
        await eventually(rows_shown(1))
        assert await store.engine.scalar("SELECT email FROM users") == "stays@example.org"
