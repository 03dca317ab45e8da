"""Data at rest and user text in motion: private files, parameterised SQL, and hostile names
that stay inert in the console, in pages, in email headers and in CSV exports."""

from __future__ import annotations

import ast
import csv
import email
import email.policy
import io
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rich.text import Text
from textual.widgets import DataTable

from console.app import UsherApp
from store import Settings, Store
from store.accounts.users import UserQuery, export_users_csv
from store.domain import csv_safe
from store.domain.clock import db_now
from store.domain.records import from_rows
from store.messaging.delivery import DeliveryPolicy, DeliveryWorker
from store.messaging.outbox import OutboxMessage

from .fixtures_security import MEMBER, World, csrf_from, open_world, world
from .helpers import ROOT, eventually

__all__ = ["world"]

HOSTILE_FIRST = "[bold red]Eve[/]\x1b]52;c;ZXZpbA==\x07\x1b[2J"
HOSTILE_LAST = "<script>alert(1)</script>\r\nBcc: victim@example.org\x9b31m"


# --- private files -----------------------------------------------------------------------------


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The laxest umask: any file we make private is private because we made it so."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_database_and_every_exported_file_is_0600(
    settings: Settings, tmp_path: Path, lax_umask: None
) -> None:
    mail_dir = tmp_path / "mail"
    settings = msgspec.structs.replace(settings, mail_dir=str(mail_dir))
    async with open_world(settings, signed_in=False) as world:
        db = Path(world.store.path)
        sidecars = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        for path in sidecars:
            assert path.exists() and mode(path) == 0o600, path
        await world.store.backup(str(tmp_path / "backup.db"))
        await export_users_csv(world.store.engine, UserQuery(), tmp_path / "users.csv")
        csv_safe.write_csv(tmp_path / "a.csv", ["x"], [["1"]])
        csv_safe.write_private(tmp_path / "b.json", "[]")
        worker = DeliveryWorker(world.store, None, DeliveryPolicy(), "test-worker")
        await worker.write_kept_files()
    emails = list(mail_dir.glob("*.eml"))
    assert emails, "the kept messages were written"
    files = [tmp_path / n for n in ("backup.db", "users.csv", "a.csv", "b.json")] + emails
    for path in files:
        assert mode(path) == 0o600, path
    assert mode(mail_dir) == 0o700
    for path in tmp_path.iterdir():  # the lock file and anything else beside the database
        if path.is_file():
            assert mode(path) == 0o600, path


# --- parameterised SQL -----------------------------------------------------------------------

SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM|PRAGMA|CREATE|DROP|ALTER|VACUUM|WHERE|"
    r"VALUES|SET|ORDER\s+BY|AND|OR)\b"
)

SAFE_INTERPOLATIONS: dict[str, str] = {
    "marks": "only ?,?,? placeholders (checked below)",
    "_SELECT": "a constant SELECT ... FROM clause",
    "_STATUS": "a constant CASE expression",
    "_UNSENT": "a constant tuple of statuses",
    "where": "joined constant clauses with :named placeholders",
    "clauses": "constant clauses with :named placeholders",
    "table": "typed Literal['invitations', 'outbox']",
    "BUSY_TIMEOUT_MS": "an int constant",
    "name": "a column name from a constant tuple (store/accounts/users.py _where)",
    "picked": "double-quoted column names read from the schema (store/accounts/erasure.py _sweep)",
    "sets": "double-quoted column names read from the schema, each `= ?` (erasure.py)",
    "row_keys": "each table's row key from the engine's catalogue (rowid, quoted key columns or "
    "CAST(ctid AS text)) AS _keyN (store/accounts/erasure.py _sweep)",
    "same_row": "those row keys, each `= ?` (store/accounts/erasure.py _sweep)",
    "catalogued": "a table name read from PostgreSQL's catalogue, double-quoted "
    "(store/database/engine_postgres.py purge_deleted)",
    "_ORDER_BY": "a constant dict of ORDER BY clauses; a key never becomes text",
    "column": "a column name read from the schema, double-quoted (identities_migration)",
    "temporary": "a table name from a constant tuple + `_v9` (identities_migration._rebuild)",
    "sources": "double-quoted column names read from the schema, and a constant call",
    "quoted_table": "a table name of the schema the migrations make, double-quoted (migrate_to)",
    "column_list": "double-quoted column names of that schema (store/database/migrate_to.py)",
    "WRITE_LOCK_KEY": "an int constant, the PostgreSQL write lock's key (dialect.py)",
    "NOTIFY_CHANNEL": "a constant channel name (store/database/pg_schema.py)",
}
"""Names whose value may be put into SQL text: each holds no user input, for the reason given.
Anything else interpolated into SQL fails the test below."""

SAFE_CALLS = {"int", "_in"}
"""`int(...)` cannot carry SQL; migrations' `_in(...)` quotes a constant tuple."""


def _literal(node: ast.AST) -> str:
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return ""


def _safe(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in SAFE_INTERPOLATIONS
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in SAFE_CALLS:
            return True
        if isinstance(func, ast.Attribute) and func.attr == "join":  # " AND ".join(clauses)
            return _safe(func.value) and all(_safe(arg) for arg in node.args)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _safe(node.left) and _safe(node.right)
    if isinstance(node, ast.Subscript):  # a constant mapping looked up by key
        return isinstance(node.value, ast.Name) and node.value.id in SAFE_INTERPOLATIONS
    return False


def unsafe_sql(source: str) -> list[str]:
    """Every place `source` builds SQL text from something that might hold user input."""
    problems: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr) and SQL_WORDS.search(_literal(node)):
            for value in node.values:
                if isinstance(value, ast.FormattedValue) and not _safe(value.value):
                    problems.append(f"{node.lineno}: f-string with {ast.unparse(value.value)}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            if SQL_WORDS.search(_literal(node.left)):
                problems.append(f"{node.lineno}: % formatting of SQL")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            sides = (node.left, node.right)
            if any(SQL_WORDS.search(_literal(side)) for side in sides) and not all(
                _safe(side) for side in sides
            ):
                problems.append(f"{node.lineno}: SQL concatenated with {ast.unparse(node)[:60]}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and SQL_WORDS.search(_literal(node.func.value))
        ):
            problems.append(f"{node.lineno}: str.format of SQL")
        elif (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "marks" for t in node.targets)
            and not re.fullmatch(r"',' ?\.join\('\?' \* .+\)", ast.unparse(node.value))
        ):
            problems.append(f"{node.lineno}: marks = {ast.unparse(node.value)}")
    return problems


def test_the_sql_checker_catches_injection_patterns() -> None:
    """The checker below is only as good as what it notices: it must flag each of these."""
    for bad in [
        "tx.execute(f\"SELECT * FROM users WHERE email = '{email}'\")",
        "tx.execute(\"SELECT * FROM users WHERE email = '%s'\" % email)",
        'tx.execute("DELETE FROM users WHERE id = " + user_id)',
        "tx.execute(\"UPDATE users SET level = '{}'\".format(level))",
        "marks = ','.join(values)",
        "sql = f'SELECT * FROM outbox WHERE {clause(term)}'",
    ]:
        assert unsafe_sql(bad), bad
    for good in [
        'tx.execute("SELECT * FROM users WHERE email = ?", (email,))',
        "marks = ','.join('?' * len(chunk))",
        "tx.execute(f'SELECT 1 FROM users WHERE id IN ({marks})', chunk)",
    ]:
        assert not unsafe_sql(good), good


SQL_TRANSLATORS = {
    "store/database/dialect.py": "rewrites store/'s SQL text for PostgreSQL; it is given no values",
    "store/database/pg_schema.py": "turns the migrations' frozen DDL into PostgreSQL DDL, no more",
}
"""Modules whose job is to make SQL text from SQL text: what they put into SQL is SQL. Their own
tests (tests/test_postgres_engine.py) show what they produce."""


def test_every_sql_statement_in_store_is_parameterised() -> None:
    problems = []
    for path in sorted((ROOT / "store").rglob("*.py")):
        if str(path.relative_to(ROOT)) in SQL_TRANSLATORS:
            continue
        problems += [f"{path.relative_to(ROOT)}:{p}" for p in unsafe_sql(path.read_text())]
    assert not problems, "SQL built from values instead of placeholders:\n" + "\n".join(problems)


async def test_sql_metacharacters_in_user_text_are_just_text(world: World) -> None:
    page = await world.client.get("/password/forgot")
    hostile = "x@example.org'; DROP TABLE users; --"
    response = await world.client.post(
        "/password/forgot", data={"_csrf_token": csrf_from(page.text), "email": hostile}
    )
    assert response.status_code == 200
    assert await world.store.engine.scalar("SELECT count(*) FROM users") >= 1


# --- user text in the console ------------------------------------------------------------------


async def test_hostile_names_are_inert_in_the_console(settings: Settings) -> None:
    """A name with Rich markup and terminal escapes (OSC 52 clipboard write, clear screen, a C1
    CSI) in the database, however it got there: the Users and Approvals screens show the markup
    literally and no control character reaches a cell."""
    async with await Store.open(settings, watch=False) as store, store.write("users") as tx:
        for email, status in [("eve@example.org", "active"), ("pat@example.org", "pending")]:
            await tx.execute(
                """INSERT INTO users (email, email_key, first_name, last_name, level, status,
                       created_at, updated_at) VALUES (?, lower(?1), ?, ?, 'member', ?, ?, ?)""",
                (email, HOSTILE_FIRST, HOSTILE_LAST, status, db_now(), db_now()),
            )
    app = UsherApp(settings, no_server=True)
    async with app.run_test(size=(140, 30)) as pilot:
        for key in ["f8", "f2"]:
            await pilot.press(key)

            async def shown() -> bool:
                await pilot.pause()
                tables = app.screen.query(DataTable)
                return bool(tables) and tables.first().row_count >= 1

            await eventually(shown)
            table = app.screen.query_one(DataTable)
            cells = [
                cell.plain if isinstance(cell, Text) else str(cell)
                for index in range(table.row_count)
                for cell in table.get_row_at(index)
            ]
            text = " ".join(cells)
            assert "[bold red]Eve[/]" in text, key  # shown as typed, not as bold red
            assert not re.search(r"[\x00-\x1f\x7f-\x9f]", text), key
        screenshot = app.export_screenshot()
        assert "\x1b" not in screenshot and "\x07" not in screenshot


# --- user text in pages ------------------------------------------------------------------------


async def test_hostile_names_are_escaped_in_pages(world: World) -> None:
    page = await world.client.get(world.form_page("/join/{token:str}"))
    response = await world.client.post(
        world.path("/join/{token:str}"),
        data={
            "_csrf_token": csrf_from(page.text),
            "email": "<script>alert(1)</script>",
            "first_name": HOSTILE_FIRST,
            "last_name": "<img src=x onerror=alert(1)>",
            "password": "short",
            "password_confirm": "short",
        },
    )
    assert response.status_code == 400
    assert "<script>alert(1)</script>" not in response.text
    assert "<img src=x" not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text
    # Stored names are shown escaped on the account page too.
    async with world.store.write() as tx:
        await tx.execute(
            "UPDATE users SET first_name = ? WHERE email = ?", ("<script>x</script>", MEMBER)
        )
    account = await world.client.get("/account")
    assert "&lt;script&gt;x&lt;/script&gt;" in account.text
    assert "<script>" not in account.text


# --- user text in email headers ------------------------------------------------------------------


async def test_line_breaks_in_a_name_never_reach_an_email_header(world: World) -> None:
    page = await world.client.get(world.form_page("/join/{token:str}"))
    response = await world.client.post(
        world.path("/join/{token:str}"),
        data={
            "_csrf_token": csrf_from(page.text),
            "email": "eve@example.org",
            "first_name": "Eve\r\nBcc: victim@example.org",
            "last_name": "Lee\nX-Evil: 1",
            "password": "a long enough passphrase",
            "password_confirm": "a long enough passphrase",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    stored = await world.store.engine.fetchone(
        "SELECT first_name, last_name FROM users WHERE email = 'eve@example.org'"
    )
    assert stored is not None
    assert "\n" not in stored["first_name"] + stored["last_name"]
    rows = await world.store.engine.fetchall(
        "SELECT * FROM outbox WHERE recipient = 'eve@example.org'"
    )
    assert rows
    worker = DeliveryWorker(world.store, None, DeliveryPolicy(), "test-worker")
    for message in from_rows(rows, OutboxMessage):
        data, _ = worker.message_bytes(message, reveal=True)
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert parsed["Bcc"] is None and parsed["X-Evil"] is None
        assert [a.addr_spec for a in parsed["To"].addresses] == ["eve@example.org"]


# --- user text in CSV exports ----------------------------------------------------------------

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.text(max_size=20), st.sampled_from(TRIGGERS))
def test_no_csv_cell_can_start_a_formula(tail: str, trigger: str) -> None:
    text = csv_safe.csv_text(["name"], [[trigger + tail], [tail]])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(TRIGGERS), cell


async def test_exported_names_are_neutralised(world: World, tmp_path: Path) -> None:
    async with world.store.write() as tx:
        await tx.execute(
            "UPDATE users SET first_name = ?, last_name = ? WHERE email = ?",
            ('=HYPERLINK("http://evil")', "@SUM(1)", MEMBER),
        )
    target = tmp_path / "users.csv"
    await export_users_csv(world.store.engine, UserQuery(), target)
    with target.open(newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert '\'=HYPERLINK("http://evil")' in cells and "'@SUM(1)" in cells
    assert not any(cell.startswith(TRIGGERS) for cell in cells)
