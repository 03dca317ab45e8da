"""`usher users export`: CSV with the console export's formula guard, JSON as is, a status filter,
private new files that are never overwritten."""

from __future__ import annotations

import csv
import io
import json
import stat
import subprocess
from pathlib import Path

import pytest

from store import Settings, Store
from store.accounts.users_export import ExportError, export_text, export_to_file

from .fixtures_postgres import settings_on_both_engines
from .fixtures_users import add_user
from .helpers import run_usher

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""

FORMULA = '=HYPERLINK("http://evil.example","click")'


async def _people(store: Store) -> None:
    await add_user(store, "ann@example.org", first=FORMULA, last="Lee", status="active")
    await add_user(store, "bob@example.org", first="Bob", last="@SUM(1+1)", status="pending")
    await add_user(store, "cy@example.org", first="Cy", last="-2+3", status="disabled")


async def test_csv_neutralises_formulas_and_json_keeps_values(store: Store) -> None:
    await _people(store)
    count, text = await export_text(store.engine, status=None, fmt="csv")
    assert count == 3
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["email"] for row in rows] == [
        "ann@example.org",
        "bob@example.org",
        "cy@example.org",
    ]
    assert rows[0]["first_name"] == "'" + FORMULA
    assert rows[1]["last_name"] == "'@SUM(1+1)"
    assert rows[2]["last_name"] == "'-2+3"
    count, text = await export_text(store.engine, status="active", fmt="json")
    [ann] = json.loads(text)
    assert count == 1 and ann["first_name"] == FORMULA and ann["status"] == "active"


async def test_files_are_private_and_never_overwritten(store: Store, tmp_path: Path) -> None:
    await _people(store)
    target = tmp_path / "users.json"
    assert await export_to_file(store.engine, target, status="pending", fmt="json") == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [user["email"] for user in json.loads(target.read_text())] == ["bob@example.org"]
    with pytest.raises(ExportError, match="already exists"):
        await export_to_file(store.engine, target, status=None, fmt="csv")
    assert len(json.loads(target.read_text())) == 1
    sheet = tmp_path / "users.csv"
    assert await export_to_file(store.engine, sheet, status=None, fmt="csv") == 3
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
    assert "'=HYPERLINK" in sheet.read_text()


async def test_usher_users_export_command(settings: Settings, tmp_path: Path) -> None:
    async with await Store.open(settings, watch=False) as store:
        await _people(store)

    def usher(*args: str) -> subprocess.CompletedProcess[str]:
        return run_usher("users", "export", *args, "--db", settings.db)

    printed = usher("--format", "json", "--status", "disabled")
    assert printed.returncode == 0, printed.stderr
    assert [user["email"] for user in json.loads(printed.stdout)] == ["cy@example.org"]
    sheet = usher()
    assert sheet.stdout.splitlines()[0].startswith("id,email,first_name")
    target = tmp_path / "out.csv"
    written = usher(str(target))
    assert written.returncode == 0 and "Wrote 3 users" in written.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    again = usher(str(target))
    assert again.returncode == 2 and "already exists" in again.stderr


async def test_the_csv_says_which_language_each_person_is_written_to_in(store: Store) -> None:
    """The console's export and `usher users export` carry the account's language (issue 22),
    empty where none was set, so a sheet of people shows what their emails will be in."""
    await _people(store)
    async with store.write("users") as tx:
        await tx.execute("UPDATE users SET language = 'de' WHERE email = 'bob@example.org'")
    count, text = await export_text(store.engine, status=None, fmt="csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert count == 3
    assert [row["language"] for row in rows] == ["", "de", ""]
