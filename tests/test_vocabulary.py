"""The domain's words (store.domain.vocabulary) are what the schema allows: each CHECK (column IN
(…)) of a freshly migrated database, read back from sqlite_master, lists exactly the vocabulary's
values. The migrations spell those lists as frozen text, never built from the vocabulary, so a
later edit of LEVELS cannot rewrite a shipped migration."""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path

import pytest

from store import Settings, Store
from store.accounts.acting import ROLES
from store.accounts.users import LEVELS as USER_LEVELS
from store.accounts.users import STATUSES
from store.domain.records import Level, UserStatus
from store.domain.vocabulary import (
    AUDIT_ACTIONS,
    INVITATION_STATUSES,
    LEVELS,
    OUTBOX_STATUSES,
    SOURCES,
    TOKEN_PURPOSES,
    USER_STATUSES,
    level_named,
)
from store.onboarding.invitations import STATUSES as INVITATION_LIST
from store.onboarding.links import LinkError, parse_level

from .helpers import ROOT

CHECK_IN = re.compile(r"CHECK \((\w+) IN \(([^)]*)\)\)")


def schema_checks(db: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """(table, column) → the values its CHECK constraint allows, in the order written."""
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        for table, sql in rows.fetchall():
            for column, values in CHECK_IN.findall(sql or ""):
                found[(table, column)] = tuple(v.strip().strip("'") for v in values.split(","))
    return found


async def test_the_vocabulary_is_what_the_schema_checks_allow(
    store: Store, settings: Settings
) -> None:
    checks = schema_checks(settings.db)
    assert checks == {
        ("invite_links", "level"): LEVELS,
        ("invitations", "level"): LEVELS,
        ("users", "level"): LEVELS,
        ("users", "status"): USER_STATUSES,
        ("users", "source"): SOURCES,
        ("invitations", "status"): INVITATION_STATUSES,
        ("outbox", "status"): OUTBOX_STATUSES,
        ("outbox", "channel"): ("email", "webhook"),
        ("action_tokens", "purpose"): TOKEN_PURPOSES,
        ("admins", "role"): ROLES,
    }


def test_the_old_names_are_the_vocabulary() -> None:
    """Modules that named these lists before keep them, as the vocabulary's own."""
    from store.database import migrations

    assert migrations.LEVELS is LEVELS and USER_LEVELS is LEVELS
    assert migrations.USER_STATUSES is USER_STATUSES and STATUSES is USER_STATUSES
    assert migrations.OUTBOX_STATUSES is OUTBOX_STATUSES
    assert INVITATION_LIST is INVITATION_STATUSES
    assert Level.__args__ == LEVELS  # type: ignore[attr-defined]
    assert UserStatus.__args__ == USER_STATUSES  # type: ignore[attr-defined]


def test_shipped_migrations_are_frozen_text() -> None:
    """Every SQL script of store/database/migrations.py is a plain string: no f-string or call that
    could take today's vocabulary into a migration that has already run elsewhere."""
    tree = ast.parse((ROOT / "store" / "database" / "migrations.py").read_text("utf-8"))
    scripts = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and re.fullmatch(r"V\d+_\w+", target.id)
    }
    assert len(scripts) >= 10
    for name, value in scripts.items():
        assert isinstance(value, ast.Constant) and isinstance(value.value, str), name


def test_level_named_is_the_one_level_check() -> None:
    for level in LEVELS:
        assert level_named(level) == level
    for wrong in ("Admin", " member", "owner", ""):
        assert level_named(wrong) is None
    assert parse_level(" Manager ") == "manager"
    with pytest.raises(LinkError, match="is not one of: admin, manager, member, viewer"):
        parse_level("owner")


def test_every_audit_action_written_is_in_the_vocabulary() -> None:
    """The literal actions `record(...)` is given across store/ (mypy checks them too)."""
    written: set[str] = set()
    for path in Path(ROOT / "store").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call) or getattr(node.func, "id", None) != "record":
                continue
            if len(node.args) >= 3 and isinstance(node.args[2], ast.Constant):
                written.add(str(node.args[2].value))
    assert written and written <= set(AUDIT_ACTIONS)
    assert len(set(AUDIT_ACTIONS)) == len(AUDIT_ACTIONS)
