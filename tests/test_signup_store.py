"""Link signups, confirmation, sign-in, sessions and passwords, against a real SQLite file.

A cheap argon2 hasher keeps them fast; the code paths are the ones production runs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from store import Settings, Store
from store.accounts.auth import (
    PasswordChange,
    SignInFailed,
    change_password,
    request_password_reset,
    session_user,
    set_password_account,
    set_password_by_token,
    sign_in,
    sign_out,
)
from store.domain.clock import from_db
from store.domain.passwords import Hasher
from store.domain.tokens import new_one_time_credential, one_time_credential_hash
from store.onboarding.links import LinkDraft, edit_link, get_link
from store.onboarding.signup import (
    FormRefused,
    TokenUnusable,
    confirm_email,
    expire_unconfirmed,
    sign_up_by_link,
    usable_link,
)

from .fixtures_postgres import settings_on_both_engines
from .helpers import CHEAP, GOOD_PASSWORD, ROOT, age_user, form, make_link, outbox_rows, token_in

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""


async def status_of(store: Store, email: str) -> str | None:
    value = await store.engine.scalar("SELECT status FROM users WHERE email = ?", (email,))
    return None if value is None else str(value)


async def uses_of(store: Store, link_id: int) -> int:
    link = await get_link(store, link_id)
    assert link is not None
    return link.uses


# --- signing up --------------------------------------------------------------------------------


async def test_confirmation_flow_activates_and_welcomes(fast_store: Store) -> None:
    link = await make_link(fast_store, label="Spring", level="manager")
    outcome = await sign_up_by_link(fast_store, link.token, form(), actor="web 1.2.3.4")
    assert outcome.kind == "check_email"
    assert await status_of(fast_store, "ann@example.org") == "unconfirmed"
    assert await uses_of(fast_store, link.id) == 1
    [mail] = await outbox_rows(fast_store, "confirm_email")
    assert mail["recipient"] == "ann@example.org"
    assert mail["status"] == "kept"  # no SMTP in these settings
    assert mail["values"]["_secret_keys"] == ["confirm_url"]
    assert mail["values"]["level"] == "manager"
    token = token_in(mail["values"]["confirm_url"], "confirm")
    assert mail["values"]["confirm_url"].startswith(fast_store.settings.base_url)
    # The password is never in an email, and the account cannot be used before confirming.
    assert GOOD_PASSWORD not in mail["payload"]

    confirmed = await confirm_email(fast_store, token, actor="web 1.2.3.4")
    assert (confirmed.status, confirmed.already) == ("active", False)
    assert await status_of(fast_store, "ann@example.org") == "active"
    [welcome] = await outbox_rows(fast_store, "welcome")
    assert welcome["values"]["login_url"].endswith("/login")
    again = await confirm_email(fast_store, token, actor="web")
    assert (again.status, again.already) == ("active", True)
    assert len(await outbox_rows(fast_store, "welcome")) == 1
    with pytest.raises(TokenUnusable) as unknown:
        await confirm_email(fast_store, "nonsense", actor="web")
    assert not unknown.value.known
    actions = [e.action for e in await fast_store.audit_entries()]
    assert actions[:2] == ["email_confirmed", "signed_up"]


async def test_approval_link_with_confirmation_ends_pending(fast_store: Store) -> None:
    link = await make_link(fast_store, auto_accept=False)
    await sign_up_by_link(fast_store, link.token, form(), actor="web")
    [mail] = await outbox_rows(fast_store, "confirm_email")
    assert mail["values"]["needs_approval"] is True
    result = await confirm_email(
        fast_store, token_in(mail["values"]["confirm_url"], "confirm"), actor="web"
    )
    assert result.status == "pending"
    assert (await fast_store.counts()).pending == 1
    assert [m["kind"] for m in await outbox_rows(fast_store)] == [
        "confirm_email",
        "pending_approval",
    ]


async def test_without_confirmation_accounts_are_active_or_pending_at_once(
    fast_store: Store,
) -> None:
    auto = await make_link(fast_store, confirm_email=False)
    approval = await make_link(fast_store, confirm_email=False, auto_accept=False, level="viewer")
    assert (
        await sign_up_by_link(fast_store, auto.token, form("a@example.org"), actor="w")
    ).kind == "active"
    assert (
        await sign_up_by_link(fast_store, approval.token, form("b@example.org"), actor="w")
    ).kind == "pending"
    assert await status_of(fast_store, "a@example.org") == "active"
    assert await status_of(fast_store, "b@example.org") == "pending"
    kinds = {m["recipient"]: m["kind"] for m in await outbox_rows(fast_store)}
    assert kinds == {"a@example.org": "welcome", "b@example.org": "pending_approval"}
    level = await fast_store.engine.scalar("SELECT level FROM users WHERE email = 'b@example.org'")
    assert level == "viewer"


async def test_existing_address_with_confirmation_gets_the_same_answer(fast_store: Store) -> None:
    link = await make_link(fast_store, max_uses=3)
    first = await sign_up_by_link(fast_store, link.token, form(), actor="web")
    [mail] = await outbox_rows(fast_store, "confirm_email")
    await confirm_email(fast_store, token_in(mail["values"]["confirm_url"], "confirm"), actor="w")
    again = await sign_up_by_link(
        fast_store, link.token, form("ANN@example.org", first_name="Eve"), actor="web"
    )
    assert first.kind == again.kind == "check_email"
    assert again.user_id is None
    assert again.browser_proof  # the same shape of answer as a new address gets
    assert await uses_of(fast_store, link.id) == 1  # no use taken for an existing address
    [notice] = await outbox_rows(fast_store, "account_exists")
    assert notice["recipient"] == "ann@example.org"
    assert notice["values"]["forgot_url"].endswith("/password/forgot")
    names = await fast_store.engine.fetchall("SELECT first_name FROM users")
    assert [row[0] for row in names] == ["Ann"]


async def test_signing_up_again_while_unconfirmed_sends_a_fresh_confirmation(
    fast_store: Store,
) -> None:
    """Issue 17: the first email was lost; signing up again mails a new link (not "you already
    have an account"), takes no second use, and this signup's name and password replace the
    earlier ones. A fourth try within the hour is held back, with the same answer."""
    link = await make_link(fast_store, max_uses=3)
    first = await sign_up_by_link(fast_store, link.token, form(), actor="web")
    again = await sign_up_by_link(
        fast_store, link.token, form("ANN@example.org", first_name="Anne"), actor="web"
    )
    assert first.kind == again.kind == "check_email"
    assert first.browser_proof != again.browser_proof  # the first browser's proof is stale now
    assert await uses_of(fast_store, link.id) == 1
    assert await outbox_rows(fast_store, "account_exists") == []
    mails = await outbox_rows(fast_store, "confirm_email")
    assert [m["recipient"] for m in mails] == ["ann@example.org", "ann@example.org"]
    assert await fast_store.engine.scalar("SELECT first_name FROM users") == "Anne"
    for _ in range(2):
        held = await sign_up_by_link(fast_store, link.token, form(), actor="web")
        assert held.kind == "check_email"
    assert len(await outbox_rows(fast_store, "confirm_email")) == 3  # MAIL_LIMIT an hour
    # The newest link confirms; so does the first one, still within its 24 hours.
    outcome = await confirm_email(
        fast_store, token_in(mails[0]["values"]["confirm_url"], "confirm"), actor="w"
    )
    assert outcome.status == "active"


async def test_existing_address_without_confirmation_is_told(fast_store: Store) -> None:
    link = await make_link(fast_store, confirm_email=False)
    await sign_up_by_link(fast_store, link.token, form(), actor="web")
    with pytest.raises(FormRefused) as refused:
        await sign_up_by_link(fast_store, link.token, form(), actor="web")
    assert "already exists" in refused.value.errors["email"]
    assert await uses_of(fast_store, link.id) == 1


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"email": "ann@@example.org"}, "email", "correct format"),
        ({"email": ""}, "email", "Enter your email"),
        ({"email": "ann@other.example"}, "email", "acme.org"),
        ({"first_name": " "}, "first_name", "first name"),
        ({"last_name": "Lee\u202e"}, "last_name", "last name"),  # empty is fine: "Sukarno"
        ({"password": "short", "password_confirm": "short"}, "password", "at least 8"),
        ({"password": "password123", "password_confirm": "password123"}, "password", "common"),
        ({"password": "ann@acme.org", "password_confirm": "ann@acme.org"}, "password", "email"),
        ({"password_confirm": "something else"}, "password_confirm", "match"),
        ({"link_password": ""}, "link_password", "Enter the link"),
        ({"link_password": "wrong one"}, "link_password", "not right"),
    ],
)
async def test_refusals_name_the_field(
    fast_store: Store, fields: dict[str, str], field: str, words: str
) -> None:
    link = await make_link(fast_store, domains=("acme.org", "*.acme.org"), password="opensesame")
    values = {"email": "ann@acme.org", "link_password": "opensesame", **fields}
    with pytest.raises(FormRefused) as refused:
        await sign_up_by_link(fast_store, link.token, form(**values), actor="web")
    assert words in refused.value.errors[field]
    assert await uses_of(fast_store, link.id) == 0
    assert await fast_store.engine.scalar("SELECT count(*) FROM users") == 0


async def test_subdomain_addresses_pass_a_wildcard(fast_store: Store) -> None:
    link = await make_link(
        fast_store, domains=("*.acme.org",), confirm_email=False, allow_unconfirmed_domains=True
    )
    outcome = await sign_up_by_link(fast_store, link.token, form("Ann@EU.acme.org"), actor="w")
    assert outcome.kind == "active"
    assert await fast_store.engine.scalar("SELECT email FROM users") == "Ann@eu.acme.org"


async def test_unusable_links_are_refused_whatever_the_reason(fast_store: Store) -> None:
    expired = await make_link(fast_store, expires_in=timedelta(hours=1))
    async with fast_store.write() as tx:
        await tx.execute("UPDATE invite_links SET expires_at = '2000-01-01T00:00:00.000000Z'")
    used = await make_link(fast_store, max_uses=1, confirm_email=False)
    await sign_up_by_link(fast_store, used.token, form("first@example.org"), actor="w")
    for token in (expired.token, used.token):
        with pytest.raises(TokenUnusable) as gone:
            await sign_up_by_link(fast_store, token, form("late@example.org"), actor="w")
        assert gone.value.known
    with pytest.raises(TokenUnusable) as unknown:
        await usable_link(fast_store, "no-such-token")
    assert not unknown.value.known


async def test_edit_after_the_page_opened_is_honoured(fast_store: Store) -> None:
    link = await make_link(fast_store, confirm_email=False)
    await edit_link(
        fast_store,
        link.id,
        LinkDraft(level="viewer", auto_accept=False, confirm_email=False, keep_expiry=True),
        actor="t",
    )
    outcome = await sign_up_by_link(fast_store, link.token, form(), actor="w")
    assert outcome.kind == "pending"


# --- exactly N -----------------------------------------------------------------------------------


async def test_hundred_concurrent_signups_on_a_five_use_link_make_five_accounts(
    fast_store: Store,
) -> None:
    link = await make_link(fast_store, max_uses=5, confirm_email=False)

    async def attempt(n: int) -> str:
        try:
            await sign_up_by_link(fast_store, link.token, form(f"p{n}@example.org"), actor="w")
        except TokenUnusable:
            return "refused"
        return "created"

    results = await asyncio.gather(*(attempt(n) for n in range(100)))
    assert results.count("created") == 5
    assert results.count("refused") == 95
    assert await fast_store.engine.scalar("SELECT count(*) FROM users") == 5
    assert await uses_of(fast_store, link.id) == 5


RACER = textwrap.dedent(
    """
    import asyncio, sys
    from store import Store, load_settings
    from store.domain.passwords import Hasher
    from store.onboarding.signup import SignupForm, TokenUnusable, sign_up_by_link

    async def main(db, token, prefix):
        settings = load_settings({"db": db}, environ={})
        hasher = Hasher(time_cost=1, memory_kib=8)
        async with await Store.open(settings, hasher=hasher, watch=False) as store:
            async def one(n):
                pw = "correct horse battery"
                form = SignupForm(email=f"{prefix}{n}@example.org", first_name="A",
                                  last_name="B", password=pw, password_confirm=pw)
                try:
                    await sign_up_by_link(store, token, form, actor="race")
                    return 1
                except TokenUnusable:
                    return 0
            print(sum(await asyncio.gather(*(one(n) for n in range(40)))))

    asyncio.run(main(*sys.argv[1:]))
    """
)


async def test_racing_processes_never_exceed_max_uses(
    fast_store: Store, settings: Settings
) -> None:
    link = await make_link(fast_store, max_uses=7, confirm_email=False)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, settings.db, link.token, f"p{i}-"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    created = 0
    for proc in procs:
        out, err = await asyncio.to_thread(proc.communicate, timeout=60)
        assert proc.returncode == 0, err
        created += int(out.strip())
    assert created == 7
    assert await fast_store.engine.scalar("SELECT count(*) FROM users") == 7
    assert await uses_of(fast_store, link.id) == 7


# --- expiry of unconfirmed accounts -------------------------------------------------------------


async def test_unconfirmed_accounts_expire_and_give_their_use_back(fast_store: Store) -> None:
    link = await make_link(fast_store, max_uses=1)
    await sign_up_by_link(fast_store, link.token, form(), actor="w")
    with pytest.raises(TokenUnusable):
        await usable_link(fast_store, link.token)  # used up while the account waits
    [mail] = await outbox_rows(fast_store, "confirm_email")
    await age_user(fast_store, "ann@example.org", timedelta(hours=23))
    assert await expire_unconfirmed(fast_store) == 0
    await age_user(fast_store, "ann@example.org", timedelta(hours=1, seconds=1))
    # The link page itself notices (lazily) that the use came back.
    assert (await usable_link(fast_store, link.token)).id == link.id
    assert await uses_of(fast_store, link.id) == 0
    assert await status_of(fast_store, "ann@example.org") is None
    with pytest.raises(TokenUnusable):
        await confirm_email(
            fast_store, token_in(mail["values"]["confirm_url"], "confirm"), actor="w"
        )
    # The address is free again.
    assert (await sign_up_by_link(fast_store, link.token, form(), actor="w")).kind == "check_email"
    actions = [e.action for e in await fast_store.audit_entries()]
    assert "unconfirmed_expired" in actions


async def test_confirmation_link_expires_after_a_day(fast_store: Store) -> None:
    link = await make_link(fast_store)
    await sign_up_by_link(fast_store, link.token, form(), actor="w")
    [mail] = await outbox_rows(fast_store, "confirm_email")
    async with fast_store.write() as tx:
        await tx.execute("UPDATE action_tokens SET expires_at = '2000-01-01T00:00:00.000000Z'")
    with pytest.raises(TokenUnusable) as gone:
        await confirm_email(
            fast_store, token_in(mail["values"]["confirm_url"], "confirm"), actor="w"
        )
    assert gone.value.known


# --- signing in ----------------------------------------------------------------------------------


async def active_user(store: Store, email: str = "ann@example.org") -> int:
    link = await make_link(store, confirm_email=False)
    outcome = await sign_up_by_link(store, link.token, form(email), actor="w")
    assert outcome.user_id is not None
    return outcome.user_id


async def test_sign_in_opens_a_session_and_sign_out_ends_it(fast_store: Store) -> None:
    user_id = await active_user(fast_store)
    session = await sign_in(fast_store, " ANN@example.org ", GOOD_PASSWORD, actor="w")
    assert session.user.id == user_id
    stored = await fast_store.engine.scalar("SELECT token_hash FROM sessions")
    assert stored != session.token and len(str(stored)) == 64
    user = await session_user(fast_store, session.token)
    assert user is not None and user.email == "ann@example.org"
    await sign_out(fast_store, session.token)
    assert await session_user(fast_store, session.token) is None
    assert await session_user(fast_store, "") is None


async def test_wrong_and_unknown_sign_ins_fail_alike_with_hasher_work(fast_store: Store) -> None:
    await active_user(fast_store)
    for email, password in [
        ("ann@example.org", "wrong password"),
        ("nobody@example.org", "x"),
        ("", ""),
    ]:
        before = fast_store.hasher.calls
        with pytest.raises(SignInFailed):
            await sign_in(fast_store, email, password, actor="w")
        assert fast_store.hasher.calls > before, "every sign-in does hasher work"


async def test_expired_sessions_are_ignored(fast_store: Store) -> None:
    await active_user(fast_store)
    session = await sign_in(fast_store, "ann@example.org", GOOD_PASSWORD, actor="w")
    async with fast_store.write() as tx:
        await tx.execute("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000000Z'")
    assert await session_user(fast_store, session.token) is None


async def test_sign_in_rehashes_when_parameters_change(settings: Settings) -> None:
    async with await Store.open(settings, hasher=Hasher(time_cost=1, memory_kib=8)) as old:
        await active_user(old)
        before = await old.engine.scalar("SELECT password_hash FROM users")
    async with await Store.open(settings, hasher=Hasher(time_cost=2, memory_kib=16)) as new:
        await sign_in(new, "ann@example.org", GOOD_PASSWORD, actor="w")
        after = str(await new.engine.scalar("SELECT password_hash FROM users"))
        assert after != before
        assert "m=16,t=2" in after
        assert not new.hasher.needs_rehash(after)
        await sign_in(new, "ann@example.org", GOOD_PASSWORD, actor="w")


async def test_one_time_credential_signs_in_once_and_must_be_changed(fast_store: Store) -> None:
    user_id = await active_user(fast_store)
    credential = new_one_time_credential()
    async with fast_store.write() as tx:
        await tx.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?",
            (one_time_credential_hash(credential), user_id),
        )
    session = await sign_in(fast_store, "ann@example.org", credential.lower(), actor="w")
    assert session.user.must_change_password
    with pytest.raises(SignInFailed):
        await sign_in(fast_store, "ann@example.org", GOOD_PASSWORD, actor="w")
    new = "a brand new passphrase"
    rotated = await change_password(
        fast_store,
        user_id,
        PasswordChange(current_password=credential, password=new, password_confirm=new),
        session_token=session.token,
        actor="w",
    )
    assert await session_user(fast_store, session.token) is None
    user = await session_user(fast_store, rotated.token)
    assert user is not None and not user.must_change_password
    with pytest.raises(SignInFailed):
        await sign_in(fast_store, "ann@example.org", credential, actor="w")
    await sign_in(fast_store, "ann@example.org", new, actor="w")


async def test_old_one_time_credentials_no_longer_work(fast_store: Store) -> None:
    user_id = await active_user(fast_store)
    credential = new_one_time_credential()
    async with fast_store.write() as tx:
        await tx.execute(
            "UPDATE users SET password_hash = ?, updated_at = '2000-01-01T00:00:00.000000Z' "
            "WHERE id = ?",
            (one_time_credential_hash(credential), user_id),
        )
    with pytest.raises(SignInFailed):
        await sign_in(fast_store, "ann@example.org", credential, actor="w")


async def test_change_password_checks_and_ends_every_session_rotating_this_one(
    fast_store: Store,
) -> None:
    user_id = await active_user(fast_store)
    here = await sign_in(fast_store, "ann@example.org", GOOD_PASSWORD, actor="w")
    elsewhere = await sign_in(fast_store, "ann@example.org", GOOD_PASSWORD, actor="w")
    for change, field in [
        (
            PasswordChange(current_password="nope", password="x" * 12, password_confirm="x" * 12),
            "current_password",
        ),
        (
            PasswordChange(
                current_password=GOOD_PASSWORD, password="short", password_confirm="short"
            ),
            "password",
        ),
        (
            PasswordChange(
                current_password=GOOD_PASSWORD,
                password=GOOD_PASSWORD,
                password_confirm=GOOD_PASSWORD,
            ),
            "password",
        ),
        (
            PasswordChange(
                current_password=GOOD_PASSWORD,
                password="violin harbour seventeen",
                password_confirm="violin harbour eighteen",
            ),
            "password_confirm",
        ),
    ]:
        with pytest.raises(FormRefused) as refused:
            await change_password(fast_store, user_id, change, session_token=here.token, actor="w")
        assert field in refused.value.errors
    new = "another fine passphrase"
    rotated = await change_password(
        fast_store,
        user_id,
        PasswordChange(current_password=GOOD_PASSWORD, password=new, password_confirm=new),
        session_token=here.token,
        actor="w",
    )
    assert await session_user(fast_store, here.token) is None  # rotated, not kept
    assert await session_user(fast_store, elsewhere.token) is None
    assert rotated.token != here.token
    assert await session_user(fast_store, rotated.token) is not None
    await sign_in(fast_store, "ann@example.org", new, actor="w")


# --- forgotten passwords -------------------------------------------------------------------------


async def test_reset_mails_known_active_accounts_only(fast_store: Store) -> None:
    await active_user(fast_store, "ann@example.org")
    pending_link = await make_link(fast_store, confirm_email=False, auto_accept=False)
    await sign_up_by_link(fast_store, pending_link.token, form("pat@example.org"), actor="w")
    for address in ["ann@example.org", "nobody@example.org", "pat@example.org", "not an email"]:
        await request_password_reset(fast_store, address, actor="w")
    mails = await outbox_rows(fast_store, "set_password")
    assert [m["recipient"] for m in mails] == ["ann@example.org"]
    assert mails[0]["values"]["_secret_keys"] == ["set_password_url"]
    assert mails[0]["values"]["valid_hours"] == 72


async def test_set_password_by_token_is_single_use(fast_store: Store) -> None:
    await active_user(fast_store)
    session = await sign_in(fast_store, "ann@example.org", GOOD_PASSWORD, actor="w")
    await request_password_reset(fast_store, "ann@example.org", actor="w")
    [mail] = await outbox_rows(fast_store, "set_password")
    token = token_in(mail["values"]["set_password_url"], "password/set")
    assert (await set_password_account(fast_store, token)).email == "ann@example.org"
    with pytest.raises(FormRefused) as refused:
        await set_password_by_token(fast_store, token, "short", "short", actor="w")
    assert "password" in refused.value.errors
    new = "a reset passphrase"
    await set_password_by_token(fast_store, token, new, new, actor="w")
    assert await session_user(fast_store, session.token) is None  # sessions end on reset
    await sign_in(fast_store, "ann@example.org", new, actor="w")
    with pytest.raises(TokenUnusable) as gone:
        await set_password_by_token(
            fast_store, token, "another passphrase", "another passphrase", actor="w"
        )
    assert gone.value.known


async def test_set_password_link_expires_after_72_hours(fast_store: Store) -> None:
    await active_user(fast_store)
    await request_password_reset(fast_store, "ann@example.org", actor="w")
    [mail] = await outbox_rows(fast_store, "set_password")
    token = token_in(mail["values"]["set_password_url"], "password/set")
    expires = await fast_store.engine.scalar(
        "SELECT expires_at FROM action_tokens WHERE purpose = 'set_password'"
    )
    created = await fast_store.engine.scalar(
        "SELECT created_at FROM action_tokens WHERE purpose = 'set_password'"
    )
    lifetime = from_db(str(expires)) - from_db(str(created))
    assert abs(lifetime - timedelta(hours=72)) < timedelta(seconds=5)
    async with fast_store.write() as tx:
        await tx.execute("UPDATE action_tokens SET expires_at = '2000-01-01T00:00:00.000000Z'")
    with pytest.raises(TokenUnusable):
        await set_password_account(fast_store, token)


async def test_setting_a_password_confirms_an_unconfirmed_account(fast_store: Store) -> None:
    link = await make_link(fast_store, auto_accept=False)
    await sign_up_by_link(fast_store, link.token, form(), actor="w")
    await request_password_reset(fast_store, "ann@example.org", actor="w")
    [mail] = await outbox_rows(fast_store, "set_password")
    token = token_in(mail["values"]["set_password_url"], "password/set")
    new = "proof of the address"
    user = await set_password_by_token(fast_store, token, new, new, actor="w")
    assert user.status == "pending"
    assert user.confirmed_at is not None
    # The earlier confirmation link now just says it is done.
    [confirm] = await outbox_rows(fast_store, "confirm_email")
    result = await confirm_email(
        fast_store, token_in(confirm["values"]["confirm_url"], "confirm"), actor="w"
    )
    assert result.already


async def test_blocked_accounts_cannot_reset(fast_store: Store) -> None:
    user_id = await active_user(fast_store)
    await request_password_reset(fast_store, "ann@example.org", actor="w")
    [mail] = await outbox_rows(fast_store, "set_password")
    async with fast_store.write() as tx:
        await tx.execute("UPDATE users SET status = 'disabled' WHERE id = ?", (user_id,))
    with pytest.raises(TokenUnusable):
        await set_password_account(
            fast_store, token_in(mail["values"]["set_password_url"], "password/set")
        )
    # Sign-in still works, to show the state; nothing else does.
    session = await sign_in(fast_store, "ann@example.org", GOOD_PASSWORD, actor="w")
    assert session.user.status == "disabled"
    with pytest.raises(FormRefused):
        new = "does not matter now"
        await change_password(
            fast_store,
            user_id,
            PasswordChange(current_password=GOOD_PASSWORD, password=new, password_confirm=new),
            session_token=session.token,
            actor="w",
        )


def test_cheap_hasher_is_what_the_fixture_uses() -> None:
    assert CHEAP == {"time_cost": 1, "memory_kib": 8}
    assert Path(ROOT, "store", "onboarding", "signup.py").exists()


async def test_initial_credentials_expire_and_a_chosen_password_does_not(
    fast_store: Store,
) -> None:
    from store.onboarding.accounts_create import one_time_credential

    user_id = await active_user(fast_store)
    raw, stored = one_time_credential()
    async with fast_store.write() as tx:
        await tx.execute(
            "UPDATE users SET password_hash = ?, password_expires_at = ?, "
            "must_change_password = 1 WHERE id = ?",
            (stored.hash, stored.expires_at, user_id),
        )
    session = await sign_in(fast_store, "ann@example.org", raw, actor="w")
    assert session.user.must_change_password
    new = "my very own passphrase"
    await change_password(
        fast_store,
        user_id,
        PasswordChange(current_password=raw, password=new, password_confirm=new),
        session_token=session.token,
        actor="w",
    )
    assert await fast_store.engine.scalar("SELECT password_expires_at FROM users") is None
    async with fast_store.write() as tx:  # an admin-set password whose time is up
        await tx.execute(
            "UPDATE users SET password_expires_at = '2000-01-01T00:00:00.000000Z' WHERE id = ?",
            (user_id,),
        )
    with pytest.raises(SignInFailed):
        await sign_in(fast_store, "ann@example.org", new, actor="w")
    await request_password_reset(fast_store, "ann@example.org", actor="w")
    [mail] = await outbox_rows(fast_store, "set_password")
    token = token_in(mail["values"]["set_password_url"], "password/set")
    chosen = "chosen by the link"
    await set_password_by_token(fast_store, token, chosen, chosen, actor="w")
    assert await fast_store.engine.scalar("SELECT password_expires_at FROM users") is None
    await sign_in(fast_store, "ann@example.org", chosen, actor="w")
