"""`usher migrate-to URL` (issue 20): a SQLite installation moves to PostgreSQL with every
table, id and audit entry intact, in one go, and never into a database that holds anything."""

from __future__ import annotations

import json
from typing import Any

from store import Settings, Store, load_settings
from store.accounts.admins import add_admin
from store.database.pg_schema import VERSION_KEY, postgres_schema
from store.onboarding.approvals import approve
from store.onboarding.signup import sign_up_by_link
from store.service.request_limits import count

from .fixtures_postgres import sync_rows
from .fixtures_smtp import queue_messages, with_smtp
from .fixtures_ssh import new_key, public_line
from .fixtures_users import add_user
from .helpers import cheap_hasher, form, make_link, run_usher


def _table(db: str, name: str) -> list[tuple[Any, ...]]:
    rows = [tuple(row) for row in sync_rows(db, f'SELECT * FROM "{name}"')]  # noqa: S608
    if name == "meta":
        rows = [row for row in rows if row[0] != VERSION_KEY]
    return sorted(rows, key=repr)


async def _fill(settings: Settings) -> None:
    """A little of everything: a link and its signups, an approval, an admin, mail, a count."""
    async with await Store.open(settings, hasher=cheap_hasher(), watch=False) as store:
        link = await make_link(store, max_uses=3, confirm_email=False, auto_accept=False)
        for name in ("ann", "bea"):
            await sign_up_by_link(store, link.token, form(f"{name}@example.org"), actor="web")
        pending = await add_user(store, "cy@example.org")
        await approve(store, [pending], actor="tester")
        await add_admin(store, "olga", public_line(new_key("olga")), "owner", actor="tester")
        await queue_messages(store, ["dee@example.org", "eve@example.org"])
        await count(store.engine, "ssh-key", "203.0.113.7")
        async with store.write() as tx:  # a deleted row: its id must never come back
            await tx.execute("DELETE FROM audit WHERE id = (SELECT max(id) FROM audit)")


async def test_migrate_to_copies_every_table_with_its_ids_and_refuses_a_second_time(
    settings: Settings, empty_postgres_url: str
) -> None:
    settings = with_smtp(settings, "smtp://127.0.0.1:9")
    await _fill(settings)
    tables = [table.name for table in postgres_schema().tables]
    before = {name: _table(settings.db, name) for name in tables}
    assert before["users"] and before["audit"] and before["admins"] and before["outbox"]
    highest_audit = max(row[0] for row in before["audit"])

    dry = run_usher("migrate-to", empty_postgres_url, "--db", settings.db, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    counts = json.loads(dry.stdout)
    assert counts["dry_run"] is True
    assert counts["rows"] == {name: len(rows) for name, rows in before.items()} | {
        "meta": len(before["meta"])
    }
    assert (
        sync_rows(
            empty_postgres_url,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )[0][0]
        == 0
    )  # a dry run writes nothing, not even the schema

    done = run_usher("migrate-to", empty_postgres_url, "--db", settings.db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Copied ")
    for name in tables:
        assert _table(empty_postgres_url, name) == before[name], name

    again = run_usher("migrate-to", empty_postgres_url, "--db", settings.db)
    assert again.returncode == 2
    assert "is not empty" in again.stderr

    on_postgres = load_settings({"db": empty_postgres_url}, environ={})
    async with await Store.open(on_postgres, watch=False) as store:
        assert await store.secret_key() == dict(before["meta"])["secret_key"]
        async with store.write() as tx:
            new = await tx.execute(
                "INSERT INTO audit (at, actor, action) VALUES ('now', 'me', 'after')"
            )
        assert new > highest_audit + 1  # past the deleted one too, as on SQLite


def test_migrate_to_refuses_a_target_that_is_not_postgresql(settings: Settings) -> None:
    result = run_usher("migrate-to", "/tmp/other.db", "--db", settings.db)
    assert result.returncode == 2
    assert "postgresql://" in result.stderr
