"""Users queries and changes on a real database: search, filters, sort and pages; disable and
enable; a fresh set-password link; history; the CSV export with formula injection neutralised."""

from __future__ import annotations

import csv
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from store import Store
from store.accounts.users import (
    UserQuery,
    UsersError,
    count_users,
    disable_user,
    enable_user,
    export_users_csv,
    get_user,
    list_users,
    page_users,
    resolve_users,
    send_set_password_link,
    user_history,
)
from store.domain.csv_safe import ExportError, csv_text, neutralise, write_csv
from store.domain.tokens import token_digest
from store.onboarding.approvals import approve

from .fixtures_postgres import settings_on_both_engines
from .fixtures_users import add_link, add_user, add_users, audit_actions, outbox_rows, user_row

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""

ACTOR = "root (ssh 192.0.2.1)"


async def sample(store: Store) -> dict[str, int]:
    link = await add_link(store, "Spring cohort")
    return {
        "ann": await add_user(
            store, "ann@acme.org", first="Ann", last="Lee", status="active", source="single",
            level="admin", age=timedelta(days=3),
        ),
        "bob": await add_user(
            store, "bob@acme.org", first="Bob", last="Stone", link_id=link, age=timedelta(days=2)
        ),
        "cy": await add_user(
            store, "cy@other.org", first="Cy", last="Annan", status="disabled", source="bulk",
            level="viewer", age=timedelta(days=1),
        ),
        "di": await add_user(
            store, "di@acme.org", first="Di", last="Ng", status="active", source="invitation"
        ),
    }  # fmt: skip


async def emails(store: Store, **query: object) -> list[str]:
    return [u.email for u in await list_users(store.engine, UserQuery(**query))]  # type: ignore[arg-type]


async def test_search_filters_and_sorts(store: Store) -> None:
    await sample(store)
    assert await emails(store) == ["di@acme.org", "cy@other.org", "bob@acme.org", "ann@acme.org"]
    assert await emails(store, sort="oldest") == [
        "ann@acme.org",
        "bob@acme.org",
        "cy@other.org",
        "di@acme.org",
    ]
    assert await emails(store, term="ann") == ["cy@other.org", "ann@acme.org"]  # Cy Annan, Ann
    assert await emails(store, term="ANN LEE") == ["ann@acme.org"]
    assert await emails(store, term="@acme", status="active") == ["di@acme.org", "ann@acme.org"]
    assert await emails(store, level="viewer") == ["cy@other.org"]
    assert await emails(store, source="link") == ["bob@acme.org"]
    assert await emails(store, sort="name") == [
        "ann@acme.org",
        "bob@acme.org",
        "cy@other.org",
        "di@acme.org",
    ]
    assert (await emails(store, sort="email"))[-1] == "di@acme.org"
    assert (await emails(store, sort="status"))[:2] == ["di@acme.org", "ann@acme.org"]
    assert await emails(store, term="%") == []
    assert await count_users(store.engine, UserQuery(status="active")) == 2
    (bob,) = await list_users(store.engine, UserQuery(source="link"))
    assert bob.via == "Spring cohort"


async def test_pages_of_a_large_table(store: Store) -> None:
    await add_users(
        store, [user_row(f"u{i:05}@example.org", age=timedelta(seconds=i)) for i in range(2500)]
    )
    query = UserQuery(sort="email")
    first = await page_users(store.engine, query, offset=0, limit=200)
    assert first.total == 2500 and len(first.users) == 200
    assert first.users[0].email == "u00000@example.org"
    last = await page_users(store.engine, query, offset=2400, limit=200)
    assert [u.email for u in last.users][-1] == "u02499@example.org"
    assert len(last.users) == 100
    beyond = await page_users(store.engine, query, offset=10_000, limit=200)
    assert beyond.offset == 2400  # clamped to the last page
    assert len(await list_users(store.engine, query)) == 2500  # every match without a limit


async def test_resolve_by_id_or_email(store: Store) -> None:
    ids = await sample(store)
    found, unknown = await resolve_users(
        store.engine, [str(ids["bob"]), "ANN@acme.org", "nobody@x.org", "9999", "bob@acme.org"]
    )
    assert [u.email for u in found] == ["bob@acme.org", "ann@acme.org"]
    assert unknown == ["nobody@x.org", "9999"]


async def test_disable_enable_and_refusals(store: Store) -> None:
    ids = await sample(store)
    link = await send_set_password_link(store, ids["ann"], actor=ACTOR)
    assert link.email == "ann@acme.org"
    disabled = await disable_user(store, ids["ann"], actor=ACTOR)
    assert disabled.status == "disabled"
    async with store.write() as tx:
        open_tokens = await tx.fetchall(
            "SELECT * FROM action_tokens WHERE user_id = ? AND used_at IS NULL", (ids["ann"],)
        )
    assert open_tokens == []  # a disabled account's links stop working
    with pytest.raises(UsersError, match="only active accounts"):
        await disable_user(store, ids["ann"], actor=ACTOR)
    with pytest.raises(UsersError, match="is pending"):
        await disable_user(store, ids["bob"], actor=ACTOR)
    assert (await enable_user(store, ids["ann"], actor=ACTOR)).status == "active"
    with pytest.raises(UsersError):
        await enable_user(store, ids["ann"], actor=ACTOR)
    with pytest.raises(UsersError, match="no user"):
        await enable_user(store, 12345, actor=ACTOR)
    actions = [a for a in audit_actions(store.settings.db) if a[2] == "ann@acme.org"]
    assert [a[1] for a in actions] == ["set_password_link_sent", "user_disabled", "user_enabled"]
    assert all(a[0] == ACTOR for a in actions)


async def test_set_password_link_is_stored_hashed_and_replaces_the_last(store: Store) -> None:
    ids = await sample(store)
    await send_set_password_link(store, ids["di"], actor=ACTOR)
    await send_set_password_link(store, ids["di"], actor=ACTOR)
    mails = outbox_rows(store.settings.db, "set_password")
    assert len(mails) == 2
    payload = mails[-1]["payload"]
    url = payload["set_password_url"]
    assert url.startswith(f"{store.settings.base_url}/password/set/")
    assert payload["valid_hours"] == 72
    assert payload["_secret_keys"] == ["set_password_url"]
    token = url.rsplit("/", 1)[1]
    async with store.write() as tx:
        rows = await tx.fetchall(
            "SELECT token_hash, used_at, purpose, expires_at, created_at FROM action_tokens "
            "WHERE user_id = ? ORDER BY id",
            (ids["di"],),
        )
    assert rows[-1]["token_hash"] == token_digest(token)
    assert token not in {row["token_hash"] for row in rows}  # never stored raw
    assert rows[-1]["used_at"] is None and rows[-1]["purpose"] == "set_password"
    assert rows[0]["used_at"] is not None  # the earlier link stopped working
    assert rows[-1]["expires_at"] > rows[-1]["created_at"]
    with pytest.raises(UsersError, match="not active"):
        await send_set_password_link(store, ids["bob"], actor=ACTOR)  # pending: blocked


async def test_history_comes_from_the_audit_log(store: Store) -> None:
    ids = await sample(store)
    await approve(store, [ids["bob"]], actor=ACTOR)
    await disable_user(store, ids["bob"], actor="carol")
    user = await get_user(store.engine, ids["bob"])
    assert user is not None
    history = await user_history(store.engine, user)
    assert [(e.actor, e.action) for e in history] == [
        ("carol", "user_disabled"),
        (ACTOR, "user_approved"),
    ]


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\0x", "'\0x"),
        ("Ann = Lee", "Ann = Lee"),
        ("", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_cells_a_spreadsheet_would_run_are_neutralised(cell: object, written: str) -> None:
    assert neutralise(cell) == written


def test_csv_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    old_umask = os.umask(0)
    try:
        assert write_csv(target, ["a"], [["=1"], ["b"]]) == 2
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes().decode() == "a\r\n'=1\r\nb\r\n"
    with pytest.raises(ExportError, match="already exists"):
        write_csv(target, ["a"], [])
    with pytest.raises(ExportError, match="does not exist"):
        write_csv(tmp_path / "no" / "x.csv", ["a"], [])
    assert csv_text(["h"], [["@x"]]) == "h\r\n'@x\r\n"


async def test_export_writes_the_current_view_with_formulas_neutralised(
    store: Store, tmp_path: Path
) -> None:
    await sample(store)
    await add_user(store, "evil@acme.org", first="=cmd|' /C calc'!A0", last="@x", status="active")
    target = tmp_path / "users.csv"
    count = await export_users_csv(store.engine, UserQuery(term="acme", status="active"), target)
    assert count == 3
    with target.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["email"] for row in rows] == ["evil@acme.org", "di@acme.org", "ann@acme.org"]
    assert rows[0]["first_name"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["last_name"] == "'@x"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
