"""Adding one person in the store: each password choice, the email, the audit entry, and that
nothing at all is written when the form is refused or the address is taken."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from store import Store
from store.accounts.auth import PasswordChange, SignInFailed, change_password, sign_in
from store.domain.tokens import is_one_time_hash
from store.onboarding.single_user import (
    AddressTaken,
    NewUserForm,
    Refused,
    UserAdded,
    add_user,
    check_fields,
    existing_user_id,
)

from .fixtures_postgres import settings_on_both_engines
from .helpers import GOOD_PASSWORD, outbox_rows

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""

TABLES = ("users", "outbox", "audit", "action_tokens")


def ann(**fields: Any) -> NewUserForm:
    values: dict[str, Any] = {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@acme.org",
        "level": "manager",
        **fields,
    }
    return NewUserForm(**values)


async def counts(store: Store) -> dict[str, int]:
    return {
        table: int(await store.engine.scalar(f"SELECT count(*) FROM {table}") or 0)  # noqa: S608
        for table in TABLES
    }


async def user_row(store: Store, email: str) -> dict[str, Any]:
    row = await store.engine.fetchone("SELECT * FROM users WHERE email = ?", (email,))
    assert row is not None
    return dict(zip(row.keys(), row, strict=True))


async def added(store: Store, form: NewUserForm) -> UserAdded:
    outcome = await add_user(store, form, actor="tester")
    assert isinstance(outcome, UserAdded), outcome
    return outcome


async def test_let_them_choose_emails_a_set_password_link(fast_store: Store) -> None:
    outcome = await added(fast_store, ann())
    assert outcome.credential is None and outcome.email_queued
    assert (outcome.user.level, outcome.user.status, outcome.user.source) == (
        "manager",
        "active",
        "single",
    )
    row = await user_row(fast_store, "ann@acme.org")
    assert row["password_hash"] is None and row["must_change_password"] == 0
    [message] = await outbox_rows(fast_store, "account_created")
    values = message["values"]
    assert message["recipient"] == "ann@acme.org"
    assert values["level"] == "manager"
    assert values["sign_in_email"] == "ann@acme.org"
    assert values["login_url"] == f"{fast_store.settings.base_url}/login"
    assert values["set_password_url"].startswith(f"{fast_store.settings.base_url}/password/set/")
    assert values["has_initial_password"] is False
    tokens = await fast_store.engine.fetchall(
        "SELECT purpose FROM action_tokens WHERE user_id = ?", (outcome.user.id,)
    )
    assert [t["purpose"] for t in tokens] == ["set_password"]


async def test_generate_one_signs_in_once_and_forces_a_change(fast_store: Store) -> None:
    outcome = await added(fast_store, ann(choice="generate"))
    assert outcome.credential is not None and len(outcome.credential) == 30
    assert outcome.password_expires_at is not None
    row = await user_row(fast_store, "ann@acme.org")
    assert is_one_time_hash(row["password_hash"])
    assert outcome.credential.replace("-", "") not in row["password_hash"]
    assert row["must_change_password"] == 1
    [message] = await outbox_rows(fast_store, "account_created")
    assert outcome.credential not in msgspec.json.encode(message["values"]).decode()
    assert message["values"]["has_initial_password"] is True

    session = await sign_in(fast_store, "ann@acme.org", outcome.credential.lower(), actor="web")
    assert session.user.must_change_password
    await change_password(
        fast_store,
        session.user.id,
        PasswordChange(
            current_password=outcome.credential,
            password=GOOD_PASSWORD,
            password_confirm=GOOD_PASSWORD,
        ),
        session_token=session.token,
        actor="web",
    )
    with pytest.raises(SignInFailed):
        await sign_in(fast_store, "ann@acme.org", outcome.credential, actor="web")
    again = await sign_in(fast_store, "ann@acme.org", GOOD_PASSWORD, actor="web")
    assert not again.user.must_change_password


async def test_set_it_now_is_hashed_and_must_be_changed(fast_store: Store) -> None:
    calls = fast_store.hasher.calls
    outcome = await added(fast_store, ann(choice="set", password=GOOD_PASSWORD, send_email=False))
    assert fast_store.hasher.calls == calls + 1
    assert outcome.credential is None and not outcome.email_queued
    assert outcome.password_expires_at is not None
    row = await user_row(fast_store, "ann@acme.org")
    assert str(row["password_hash"]).startswith("$argon2id$")
    assert row["must_change_password"] == 1
    assert await outbox_rows(fast_store) == []
    assert (await counts(fast_store))["action_tokens"] == 0
    session = await sign_in(fast_store, "ann@acme.org", GOOD_PASSWORD, actor="web")
    assert session.user.must_change_password


async def test_set_it_now_with_the_email_sends_the_link_and_never_the_password(
    fast_store: Store,
) -> None:
    await added(fast_store, ann(choice="set", password=GOOD_PASSWORD))
    [message] = await outbox_rows(fast_store, "account_created")
    assert GOOD_PASSWORD not in message["payload"]
    assert message["values"]["set_password_url"]


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"email": "ann@acme"}, {"email"}),
        ({"email": ""}, {"email"}),
        ({"first_name": "  "}, {"first_name"}),
        ({"first_name": "x" * 101, "email": "no"}, {"first_name", "email"}),
        ({"level": "owner"}, {"level"}),
        ({"choice": "set", "password": ""}, {"password"}),
        ({"choice": "set", "password": "password"}, {"password"}),
        ({"choice": "set", "password": "ann@acme.org"}, {"password"}),
        ({"choice": "set", "password": "Ann Lee"}, {"password"}),
        ({"choice": "telepathy"}, {"password"}),
    ],
)
async def test_refused_forms_name_the_fields_and_write_nothing(
    fast_store: Store, fields: dict[str, Any], errors: set[str]
) -> None:
    before = await counts(fast_store)
    calls = fast_store.hasher.calls
    outcome = await add_user(fast_store, ann(**fields), actor="tester")
    assert isinstance(outcome, Refused)
    assert set(outcome.errors) == errors
    assert await counts(fast_store) == before
    assert fast_store.hasher.calls == calls


async def test_a_taken_address_gives_the_existing_id_and_writes_nothing(
    fast_store: Store,
) -> None:
    first = await added(fast_store, ann())
    before = await counts(fast_store)
    calls = fast_store.hasher.calls
    outcome = await add_user(
        fast_store,
        ann(email="ANN@ACME.ORG", choice="set", password=GOOD_PASSWORD),
        actor="tester",
    )
    assert isinstance(outcome, AddressTaken)
    assert outcome.user_id == first.user.id
    assert "already has an account" in outcome.errors["email"]
    assert await counts(fast_store) == before
    assert fast_store.hasher.calls == calls  # refused before any hashing
    assert await existing_user_id(fast_store.engine, " Ann@acme.org ") == first.user.id
    assert await existing_user_id(fast_store.engine, "bob@acme.org") is None


async def test_one_audit_entry_without_secrets(fast_store: Store) -> None:
    outcome = await added(fast_store, ann(choice="generate"))
    [entry] = await fast_store.audit_entries()
    assert (entry.actor, entry.action, entry.subject) == ("tester", "user_added", "ann@acme.org")
    details = entry.detail_values()
    assert details["user_id"] == outcome.user.id
    assert details["password"] == "generate" and details["level"] == "manager"
    assert outcome.credential is not None
    assert outcome.credential not in entry.details
    assert "***" in repr(outcome) and outcome.credential not in repr(outcome)


async def test_names_with_control_characters_are_refused(fast_store: Store) -> None:
    outcome = await add_user(fast_store, ann(first_name=" A\x1b[31mnn ", last_name=""), actor="t")
    assert isinstance(outcome, Refused)
    assert outcome.errors == {
        "first_name": "The first name contains a control character, ESCAPE (U+001B), at position 3"
    }
    outcome = await added(fast_store, ann(first_name=" Ann\t", last_name=""))
    assert outcome.user.first_name == "Ann"
    assert outcome.user.last_name == ""


def test_check_fields_in_page_order() -> None:
    errors = check_fields(NewUserForm(email="nope", choice="set", password="short", level="x"))
    assert list(errors) == ["first_name", "email", "level", "password"]
    assert check_fields(ann()) == {}
