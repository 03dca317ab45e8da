"""Bulk creation at the store level, on a real SQLite file: each password mode end to end (the
stored credential matches what was given or generated), all-or-nothing writes, re-runs,
addresses taken between preview and commit, cancellation, emails and the audit entry."""

from __future__ import annotations

import csv
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import msgspec
import pytest

from store import Store
from store.domain.clock import from_db, now
from store.domain.csv_safe import ExportError, csv_text, neutralise, write_csv
from store.domain.tokens import is_one_time_hash, one_time_credential_matches, token_digest
from store.messaging.emails.render import render as render_email
from store.messaging.outbox import SECRET_KEYS_FIELD
from store.onboarding.bulk import (
    BulkCancelled,
    BulkError,
    BulkOptions,
    Progress,
    create_batch,
    error_entries,
    preview,
    write_credentials,
    write_problem_report,
)

from .fixtures_bulk import email_environment, password_for, people

ACTOR = "alice (ssh 10.0.0.7)"


async def rows(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [dict(row) for row in await store.engine.fetchall(sql, params)]


async def count(store: Store, table: str) -> int:
    return int(await store.engine.scalar(f"SELECT count(*) FROM {table}"))  # noqa: S608


async def run(store: Store, text: str, **options: Any) -> Any:
    opts = BulkOptions(**options)
    parsed = await preview(store, text, opts.passwords)
    return await create_batch(store, parsed, opts, actor=ACTOR)


async def test_random_for_each_issues_one_time_credentials(fast_store: Store) -> None:
    text = people(20) + "\nBad Line,bad@\n"
    result = await run(fast_store, text, passwords="random", level="viewer")
    assert result.summary == "20 of 21 created"
    assert [line.line for line in result.skipped] == [21]
    assert len(result.credentials) == 20
    assert fast_store.hasher.calls == 0, "one-time credentials need no argon2"
    users = {u["email"]: u for u in await rows(fast_store, "SELECT * FROM users")}
    assert len(users) == 20
    for issued in result.credentials:
        user = users[issued.email]
        assert is_one_time_hash(user["password_hash"])
        assert one_time_credential_matches(user["password_hash"], issued.credential)
        assert one_time_credential_matches(user["password_hash"], issued.credential.lower())
        assert not one_time_credential_matches(user["password_hash"], "WRONG-WRONG")
        assert len(issued.credential.replace("-", "")) == 26
        expires = from_db(user["password_expires_at"])
        assert timedelta(days=6, hours=23) < expires - now() <= timedelta(days=7)
        assert user["must_change_password"] == 1
        assert (user["status"], user["level"], user["source"]) == ("active", "viewer", "bulk")
        assert user["batch_id"] == result.batch_id
    assert len({issued.credential for issued in result.credentials}) == 20


async def test_one_for_all_is_hashed_once_and_always_changed(fast_store: Store) -> None:
    shared = "welcome to acme corp"
    result = await run(
        fast_store,
        people(30),
        passwords="same",
        shared_password=shared,
        must_change_password=False,
    )
    assert len(result.created) == 30
    assert result.credentials == ()
    assert fast_store.hasher.calls == 1
    users = await rows(fast_store, "SELECT * FROM users")
    assert len({u["password_hash"] for u in users}) == 1
    assert await fast_store.hasher.verify(users[0]["password_hash"], shared)
    assert not await fast_store.hasher.verify(users[0]["password_hash"], "something else")
    assert all(u["must_change_password"] == 1 for u in users)
    assert all(u["password_expires_at"] is not None for u in users)


async def test_given_passwords_are_each_hashed_and_match(fast_store: Store) -> None:
    result = await run(
        fast_store, people(40, passwords=True), passwords="given", must_change_password=False
    )
    assert len(result.created) == 40
    assert fast_store.hasher.calls == 40
    users = await rows(fast_store, "SELECT * FROM users ORDER BY id")
    for user in users:
        i = int(user["email"].removeprefix("user").split("@")[0])
        assert user["password_hash"].startswith("$argon2id$")
        assert await fast_store.hasher.verify(user["password_hash"], password_for(i))
        assert not await fast_store.hasher.verify(user["password_hash"], password_for(i + 1))
        assert user["must_change_password"] == 0
        assert user["password_expires_at"] is None
        assert (user["first_name"], user["last_name"]) == (f"First{i}", f"Last{i}")


async def test_given_mode_keeps_the_must_change_choice(fast_store: Store) -> None:
    await run(fast_store, people(3, passwords=True), passwords="given")
    assert {u["must_change_password"] for u in await rows(fast_store, "SELECT * FROM users")} == {1}


async def test_weak_or_missing_shared_password_writes_nothing(fast_store: Store) -> None:
    parsed = await preview(fast_store, people(3), "same")
    for bad in (None, "", "short", "password"):
        with pytest.raises(BulkError, match="password for all"):
            await create_batch(
                fast_store,
                parsed,
                BulkOptions(passwords="same", shared_password=bad),
                actor=ACTOR,
            )
    assert await count(fast_store, "users") == 0
    assert fast_store.hasher.calls == 0


async def test_lines_parsed_for_another_mode_are_refused(fast_store: Store) -> None:
    parsed = await preview(fast_store, people(3), "random")
    with pytest.raises(BulkError, match="checked for passwords"):
        await create_batch(fast_store, parsed, BulkOptions(passwords="given"), actor=ACTOR)


async def test_notifications_carry_a_set_password_link_and_never_a_password(
    fast_store: Store,
) -> None:
    text = people(5, passwords=True)
    result = await run(fast_store, text, passwords="given", level="manager")
    messages = await rows(fast_store, "SELECT * FROM outbox ORDER BY id")
    assert len(messages) == 5 == result.emails_queued
    tokens = {t["user_id"]: t for t in await rows(fast_store, "SELECT * FROM action_tokens")}
    users = {u["email"]: u for u in await rows(fast_store, "SELECT * FROM users")}
    base = fast_store.settings.base_url
    environment = email_environment()
    for message in messages:
        assert message["kind"] == "account_created"
        assert message["status"] == "kept"  # no SMTP configured in tests
        values = msgspec.json.decode(message["payload"])
        assert values[SECRET_KEYS_FIELD] == ["set_password_url"]
        assert values["login_url"] == f"{base}/login"
        assert values["sign_in_email"] == message["recipient"]
        assert values["level"] == "manager"
        url = urlparse(values["set_password_url"])
        assert f"{url.scheme}://{url.netloc}" == base
        assert url.path.startswith("/password/set/")
        token = url.path.rsplit("/", 1)[1]
        user = users[message["recipient"]]
        stored = tokens[user["id"]]
        assert stored["token_hash"] == token_digest(token)
        assert stored["purpose"] == "set_password"
        assert stored["used_at"] is None
        left = from_db(stored["expires_at"]) - now()
        assert timedelta(hours=71, minutes=59) < left <= timedelta(hours=72)
        i = int(message["recipient"].removeprefix("user").split("@")[0])
        assert message["recipient_name"] == f"First{i} Last{i}"
        assert password_for(i) not in message["payload"]
        context = {
            **values,
            "org": "Acme Corp",
            "public_url": base,
            "recipient": message["recipient"],
            "recipient_name": message["recipient_name"],
            "subject": "",
        }
        for suffix in ("subject.txt", "txt", "html"):
            body = environment.get_template(f"account_created.{suffix}").render(context)
            assert password_for(i) not in body
            if suffix != "subject.txt":
                assert values["set_password_url"] in body
                assert f"{base}/login" in body
                assert message["recipient"] in body
                assert "a manager" in body or "a <strong>manager</strong>" in body
            else:
                assert body.strip() == "Your Acme Corp account is ready"


async def test_email_html_escapes_names(fast_store: Store) -> None:
    await run(fast_store, "<b>Eve</b> <i>x,eve@acme.org", notify=True)
    (message,) = await rows(fast_store, "SELECT * FROM outbox")
    rendered = render_email(
        message["kind"],
        msgspec.json.decode(message["payload"]),
        fast_store.settings,
        recipient=message["recipient"],
        recipient_name=message["recipient_name"],
    )
    assert "<b>Eve</b>" not in rendered.html
    assert "&lt;b&gt;Eve&lt;/b&gt;" in rendered.html  # greeted by the first name, as text


async def test_no_notification_means_no_email_and_no_link(fast_store: Store) -> None:
    result = await run(fast_store, people(4), notify=False)
    assert len(result.created) == 4
    assert result.emails_queued == 0
    assert await count(fast_store, "outbox") == 0
    assert await count(fast_store, "action_tokens") == 0


async def test_one_audit_entry_with_counts(fast_store: Store) -> None:
    text = people(6) + "\nBad,bad\n" + people(1)  # the last line repeats user0
    result = await run(fast_store, text, level="member")
    (entry,) = await rows(fast_store, "SELECT * FROM audit")
    assert entry["actor"] == ACTOR
    assert entry["action"] == "users_imported"
    assert entry["subject"] == "6 of 8 accounts"
    details = msgspec.json.decode(entry["details"])
    assert details["batch_id"] == result.batch_id
    assert details["created"] == 6
    assert details["invalid"] == 2
    assert details["already_existed"] == 0
    assert details["passwords"] == "random"
    assert details["emails_queued"] == 6


async def test_running_the_same_input_again_creates_nothing_new(fast_store: Store) -> None:
    text = people(10, passwords=True)
    first = await run(fast_store, text, passwords="given")
    hashes_after_first = fast_store.hasher.calls
    second = await run(fast_store, text, passwords="given")
    assert len(first.created) == 10
    assert second.summary == "0 of 10 created"
    assert [line.error for line in second.skipped] == [
        "already exists: an account with this address exists"
    ] * 10
    assert await count(fast_store, "users") == 10
    assert await count(fast_store, "outbox") == 10
    assert fast_store.hasher.calls == hashes_after_first, "existing accounts are not hashed"


async def test_existing_accounts_show_in_the_preview(fast_store: Store) -> None:
    await run(fast_store, people(2))
    parsed = await preview(fast_store, people(4), "random")
    assert [(line.line, line.has("exists")) for line in parsed.lines] == [
        (1, True),
        (2, True),
        (3, False),
        (4, False),
    ]
    assert error_entries(parsed.problems) == [
        {
            "line": 1,
            "input": "First0 Last0,user0@acme.org",
            "error": "already exists: an account with this address exists",
        },
        {
            "line": 2,
            "input": "First1 Last1,user1@acme.org",
            "error": "already exists: an account with this address exists",
        },
    ]


async def test_an_address_taken_after_the_preview_is_reported_not_fatal(
    fast_store: Store,
) -> None:
    parsed = await preview(fast_store, people(5, passwords=True), "given")
    assert parsed.ready_count == 5

    def meanwhile(progress: Progress) -> None:
        # Another process signs user3 up after hashing, just before our transaction.
        if progress.phase == "writing":
            with sqlite3.connect(fast_store.path) as other:
                other.execute(
                    "INSERT INTO users (email, email_key, level, status, created_at, updated_at) "
                    "VALUES ('USER3@acme.org', 'user3@acme.org', 'member', 'pending', 'x', 'x')"
                )

    result = await create_batch(
        fast_store, parsed, BulkOptions(passwords="given"), actor=ACTOR, on_progress=meanwhile
    )
    assert result.summary == "4 of 5 created"
    assert [(line.line, line.error) for line in result.skipped] == [
        (4, "already exists: an account with this address exists")
    ]
    assert await count(fast_store, "users") == 5
    assert await count(fast_store, "outbox") == 4
    pending = await rows(fast_store, "SELECT status FROM users WHERE email = 'user3@acme.org'")
    assert pending == [{"status": "pending"}], "the other account is left alone"


async def test_cancel_during_hashing_writes_nothing(fast_store: Store) -> None:
    parsed = await preview(fast_store, people(200, passwords=True), "given")
    seen: list[Progress] = []

    def cancelled() -> bool:
        return fast_store.hasher.calls >= 10

    with pytest.raises(BulkCancelled):
        await create_batch(
            fast_store,
            parsed,
            BulkOptions(passwords="given"),
            actor=ACTOR,
            on_progress=seen.append,
            cancelled=cancelled,
        )
    assert 10 <= fast_store.hasher.calls < 200
    for table in ("users", "outbox", "audit", "action_tokens"):
        assert await count(fast_store, table) == 0


async def test_progress_reports_count_rate_and_time_left(fast_store: Store) -> None:
    parsed = await preview(fast_store, people(150, passwords=True), "given")
    seen: list[Progress] = []
    await create_batch(
        fast_store, parsed, BulkOptions(passwords="given"), actor=ACTOR, on_progress=seen.append
    )
    phases = [p.phase for p in seen]
    assert phases[0] == "hashing" and phases[-2:] == ["writing", "done"]
    hashing = [p for p in seen if p.phase == "hashing"]
    assert [p.done for p in hashing] == sorted(p.done for p in hashing)
    assert hashing[-1].done == hashing[-1].total == 150
    assert all(p.total == 150 for p in seen)
    assert hashing[-1].rate > 0
    assert hashing[-1].seconds_left == 0
    assert Progress("hashing", 0, 10, 0.0).seconds_left is None
    assert Progress("hashing", 5, 10, 1.0).seconds_left == pytest.approx(1.0)


async def test_nothing_valid_writes_nothing(fast_store: Store) -> None:
    result = await run(fast_store, "a\nb,c\n")
    assert result.summary == "0 of 2 created"
    assert await count(fast_store, "audit") == 0


async def test_the_migration_adds_the_expiry_column(fast_store: Store) -> None:
    columns = {r["name"] for r in await rows(fast_store, "PRAGMA table_info(users)")}
    assert "password_expires_at" in columns


# ------------------------------------------------------------------ files


def test_neutralise_prefixes_formula_cells() -> None:
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\0x"):
        assert neutralise(cell) == "'" + cell
    for cell in ("Ann", "", " =1", "a=b"):
        assert neutralise(cell) == cell
    assert neutralise(None) == ""
    assert neutralise(-3) == "-3"
    assert neutralise(True) == "yes"
    assert csv_text(["a"], [["=cmd|' /C calc'!A0"]]) == "a\r\n'=cmd|' /C calc'!A0\r\n"


async def test_problem_report_is_private_and_neutralised(fast_store: Store, tmp_path: Path) -> None:
    parsed = await preview(
        fast_store, '=HYPERLINK("http://evil") x,bad\n@Ann Lee,ann@acme\n', "random"
    )
    path = tmp_path / "problems.csv"
    assert write_problem_report(path, parsed.problems) == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with path.open(newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert '\'=HYPERLINK("http://evil") x,bad' in cells
    assert "'@Ann Lee,ann@acme" in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    with pytest.raises(ExportError, match="already exists"):
        write_problem_report(path, parsed.problems)
    with pytest.raises(ExportError, match="does not exist"):
        write_csv(tmp_path / "nope" / "x.csv", ["a"], [])


async def test_credentials_file_is_private(fast_store: Store, tmp_path: Path) -> None:
    result = await run(fast_store, people(3))
    path = tmp_path / "passwords.csv"
    assert write_credentials(path, result.credentials) == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text("utf-8").splitlines()
    assert lines[0] == "line,email,first_name,last_name,one_time_password,expires_at"
    assert lines[1].startswith(f"1,user0@acme.org,First0,Last0,{result.credentials[0].credential},")
    assert "credential=***" in repr(result.credentials[0])
