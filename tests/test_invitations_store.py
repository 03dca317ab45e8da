"""Invitations in the store, on a real SQLite file: preview, one-transaction send, resend,
revoke, fresh links, acceptance (also racing), bounces, listing."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from store import Settings, Store
from store.database.dialect import is_postgres_url
from store.domain.tokens import token_digest
from store.messaging.emails.render import render
from store.messaging.outbox import SECRET_KEYS_FIELD, enqueue
from store.onboarding.email_lists import parse_email_list
from store.onboarding.invitations import (
    AcceptForm,
    AcceptRefused,
    AccountExists,
    InvitationError,
    InvitationUnusable,
    accept_invitation,
    fresh_invitation_link,
    get_invitation,
    invitation_counts,
    invitation_for_token,
    list_invitations,
    mark_bounced_for_outbox,
    preview_invitations,
    preview_text,
    resend_invitation,
    revoke_invitation,
    send_invitations,
)
from store.service.housekeeping import run_housekeeping

from .fixtures_invitations import (
    ADMIN,
    accept_link,
    invite,
    outbox_payload,
    scalar,
    token_of,
)
from .fixtures_postgres import settings_on_both_engines, sync_run
from .helpers import GOOD_PASSWORD, cheap_hasher

__all__ = ["settings_on_both_engines"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""

FORM = AcceptForm(
    first_name="Ann", last_name="Lee", password=GOOD_PASSWORD, password_confirm=GOOD_PASSWORD
)


async def add_user(store: Store, email: str) -> None:
    async with store.write("users") as tx:
        await tx.execute(
            "INSERT INTO users (email, email_key, level, status, created_at, updated_at) "
            "VALUES (?1, lower(?1), 'member', 'active', '2026-01-01T00:00:00.000000Z', "
            "'2026-01-01T00:00:00.000000Z')",
            (email,),
        )


# --- preview -------------------------------------------------------------------------------------


async def test_preview_sorts_new_existing_and_pending(fast_store: Store) -> None:
    await add_user(fast_store, "Cy@Z.org")
    await invite(fast_store, "di@x.org")
    await invite(fast_store, "old@x.org", valid=timedelta(seconds=-1))  # expired: invite anew
    preview = await preview_text(
        fast_store, "ann@x.org\nbob@@x.org\ncy@z.org\nDI@x.org\nann@x.org\nold@x.org"
    )
    assert [e.address for e in preview.new] == ["ann@x.org", "old@x.org"]
    assert [e.address for e in preview.existing] == ["cy@z.org"]
    assert [(p.entry.address, p.entry.line) for p in preview.pending] == [("DI@x.org", 4)]
    assert len(preview.parsed.invalid) == 1 and len(preview.parsed.duplicates) == 1
    assert preview.invited_count(reinvite=False) == 2
    assert preview.invited_count(reinvite=True) == 3
    assert preview.skipped_count(reinvite=False) == 3  # account, pending, duplicate


# --- send ----------------------------------------------------------------------------------------


async def test_send_writes_invitations_emails_and_audit_together(fast_store: Store) -> None:
    async with fast_store.feed.listening() as changes:
        result = await invite(
            fast_store,
            '"Lee, Ann" <ann@x.org>; Bob <bob@y.org>',
            level="viewer",
            message="Welcome to the spring class!",
        )
        topics = await asyncio.wait_for(changes.__anext__(), 2)
    assert {"invitations", "outbox", "audit"} <= topics
    assert result.sent == 2 and result.skipped == 0
    rows = await fast_store.engine.fetchall("SELECT * FROM invitations ORDER BY id")
    assert [(r["email"], r["name"], r["level"], r["status"]) for r in rows] == [
        ("ann@x.org", "Lee, Ann", "viewer", "pending"),
        ("bob@y.org", "Bob", "viewer", "pending"),
    ]
    for row in rows:
        payload = await outbox_payload(fast_store, row["email"])
        url = payload["accept_url"]
        assert url.startswith(f"{fast_store.settings.base_url}/invite/")
        token = token_of(url)
        assert len(token) >= 43  # 256 bits
        assert row["token_hash"] == token_digest(token)  # only the digest is stored
        assert token not in str(dict(row))
        assert payload["invitation_id"] == row["id"]
        assert payload[SECRET_KEYS_FIELD] == ["accept_url"]
        assert payload["message"] == "Welcome to the spring class!"
        assert payload["inviter"] == "alice"
        outbox = await fast_store.engine.fetchone(
            "SELECT id, status, recipient_name FROM outbox WHERE id = ?", (row["outbox_id"],)
        )
        assert outbox is not None
        assert outbox["status"] == "kept"  # no SMTP configured
        assert outbox["recipient_name"] == row["name"]
    assert (await outbox_payload(fast_store, "ann@x.org"))["first_name"] == "Ann"
    audit = await fast_store.engine.fetchone(
        "SELECT * FROM audit WHERE action = 'invitations_sent'"
    )
    assert audit is not None and audit["actor"] == ADMIN
    details = msgspec.json.decode(audit["details"])
    assert details["addresses"] == ["ann@x.org", "bob@y.org"]
    assert details["level"] == "viewer"


async def test_a_failure_inside_the_send_writes_nothing(
    fast_store: Store, settings: Settings
) -> None:
    if is_postgres_url(settings.db):
        sync_run(
            settings.db,
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.email = 'boom@x.org' THEN RAISE EXCEPTION 'refused by test' "
            "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$",
        )
        sync_run(
            settings.db,
            "CREATE TRIGGER refuse BEFORE INSERT ON invitations FOR EACH ROW "
            "EXECUTE FUNCTION refuse()",
        )
    else:
        with sqlite3.connect(settings.db) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON invitations WHEN NEW.email = 'boom@x.org' "
                "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
            )
    with pytest.raises(sqlite3.IntegrityError):
        await invite(fast_store, "a@x.org, b@x.org, boom@x.org, c@x.org")
    assert await scalar(fast_store, "SELECT count(*) FROM invitations") == 0
    assert await scalar(fast_store, "SELECT count(*) FROM outbox") == 0
    assert await scalar(fast_store, "SELECT count(*) FROM audit") == 0


async def test_address_that_got_an_account_since_the_preview_is_skipped(fast_store: Store) -> None:
    preview = await preview_text(fast_store, "ann@x.org, bob@x.org")
    assert len(preview.new) == 2
    await add_user(fast_store, "bob@x.org")
    result = await send_invitations(
        fast_store, preview.entries_to_send(), level="member", actor=ADMIN
    )
    assert [e.address for e in result.invited] == ["ann@x.org"]
    assert [e.address for e in result.existing] == ["bob@x.org"]
    assert await scalar(fast_store, "SELECT count(*) FROM outbox") == 1


async def test_pending_invitations_are_skipped_or_reinvited(fast_store: Store) -> None:
    await invite(fast_store, "ann@x.org")
    first = await accept_link(fast_store, "ann@x.org")
    nothing = await invite(fast_store, "ann@x.org")
    assert nothing.sent == 0 and nothing.skipped == 1
    assert await scalar(fast_store, "SELECT count(*) FROM audit") == 1  # no change, no entry
    skipped = await invite(fast_store, "ann@x.org, bob@x.org")
    assert [e.address for e in skipped.skipped_pending] == ["ann@x.org"]
    assert await accept_link(fast_store, "ann@x.org") == first
    again = await invite(fast_store, "ANN@x.org", level="manager", reinvite=True)
    assert [e.address for e in again.reinvited] == ["ANN@x.org"]
    second = await accept_link(fast_store, "ANN@x.org")
    assert second != first
    with pytest.raises(InvitationUnusable):
        await invitation_for_token(fast_store, token_of(first))
    invitation = await invitation_for_token(fast_store, token_of(second))
    assert invitation.level == "manager"
    assert (
        await scalar(fast_store, "SELECT count(*) FROM invitations WHERE email = 'ann@x.org'") == 1
    )
    # the first email (never sent: no SMTP) was withdrawn, as its link is dead
    assert (
        await scalar(fast_store, "SELECT count(*) FROM outbox WHERE recipient LIKE 'ann@x.org'")
        == 1
    )


async def test_send_refuses_bad_level_and_long_message(fast_store: Store) -> None:
    entries = parse_email_list("ann@x.org").entries
    with pytest.raises(InvitationError, match="unknown level"):
        await send_invitations(fast_store, entries, level="owner", actor=ADMIN)
    with pytest.raises(InvitationError, match="limit"):
        await send_invitations(fast_store, entries, level="member", actor=ADMIN, message="x" * 2001)
    assert await scalar(fast_store, "SELECT count(*) FROM invitations") == 0


async def test_a_big_list_is_one_batch(fast_store: Store) -> None:
    text = "\n".join(f"p{i}@example.org" for i in range(2000))
    result = await invite(fast_store, text)
    assert result.sent == 2000
    assert await scalar(fast_store, "SELECT count(*) FROM invitations") == 2000
    assert (
        await scalar(
            fast_store,
            "SELECT count(*) FROM invitations i JOIN outbox o ON o.id = i.outbox_id "
            "WHERE o.recipient = i.email",
        )
        == 2000
    )
    assert await scalar(fast_store, "SELECT count(*) FROM audit") == 1


async def test_batch_and_single_emails_have_the_same_shape(fast_store: Store) -> None:
    """The batch insert writes rows exactly as `store.messaging.outbox.enqueue` does (resend uses
    it)."""
    await invite(fast_store, "ann@x.org, bob@x.org")
    batch = await outbox_payload(fast_store, "bob@x.org")
    bob = (await list_invitations(fast_store, search="bob"))[0]
    await resend_invitation(fast_store, bob.id, actor=ADMIN)
    single = await outbox_payload(fast_store, "bob@x.org")
    assert batch.keys() == single.keys()
    async with fast_store.write() as tx:
        reference_id = await enqueue(
            tx, fast_store.settings, to="z@x.org", kind="invitation", values={}, secret_keys=["a"]
        )
    reference = await fast_store.engine.fetchone(
        "SELECT * FROM outbox WHERE id = ?", (reference_id,)
    )
    mine = await fast_store.engine.fetchone("SELECT * FROM outbox WHERE recipient = 'ann@x.org'")
    assert reference is not None and mine is not None
    for row in (reference, mine):
        assert row["status"] == "kept" and row["attempts"] == 0 and row["last_error"] == ""
        assert row["next_attempt_at"] == row["created_at"]
        assert row["lease_owner"] is None and row["sent_at"] is None
        assert row["message_id"].startswith("<") and row["message_id"].endswith(">")
    assert reference["message_id"].split("@")[1] == mine["message_id"].split("@")[1]


# --- resend, revoke, fresh link -------------------------------------------------------------------


async def test_resend_kills_the_old_token_and_refreshes_the_expiry(fast_store: Store) -> None:
    await invite(fast_store, "ann@x.org", valid=timedelta(seconds=-1))
    old = await accept_link(fast_store, "ann@x.org")
    with pytest.raises(InvitationUnusable) as expired:
        await invitation_for_token(fast_store, token_of(old))
    assert expired.value.reason == "expired"
    (listed,) = await list_invitations(fast_store, status="expired")
    renewed = await resend_invitation(fast_store, listed.id, actor=ADMIN)
    assert renewed.status == "pending"
    assert renewed.expires_at > listed.expires_at + timedelta(days=13)
    new = await accept_link(fast_store, "ann@x.org")
    assert new != old
    with pytest.raises(InvitationUnusable) as dead:
        await invitation_for_token(fast_store, token_of(old))
    assert dead.value.reason == "unknown"
    assert (await invitation_for_token(fast_store, token_of(new))).id == listed.id
    actions = [r["action"] for r in await fast_store.engine.fetchall("SELECT action FROM audit")]
    assert "invitation_resent" in actions


async def test_revoke_refuses_the_link_and_cannot_repeat(fast_store: Store) -> None:
    await invite(fast_store, "ann@x.org")
    url = await accept_link(fast_store, "ann@x.org")
    (invitation,) = await list_invitations(fast_store)
    revoked = await revoke_invitation(fast_store, invitation.id, actor=ADMIN)
    assert revoked.status == "revoked" and revoked.outbox_id is None
    assert await scalar(fast_store, "SELECT count(*) FROM outbox") == 0  # unsent email withdrawn
    with pytest.raises(InvitationUnusable) as refused:
        await invitation_for_token(fast_store, token_of(url))
    assert refused.value.reason == "revoked"
    with pytest.raises(InvitationUnusable):
        await accept_invitation(fast_store, token_of(url), FORM, actor="web 1.2.3.4")
    with pytest.raises(InvitationError, match="already revoked"):
        await revoke_invitation(fast_store, invitation.id, actor=ADMIN)
    with pytest.raises(InvitationError, match="does not exist"):
        await revoke_invitation(fast_store, 9999, actor=ADMIN)


async def test_fresh_link_replaces_the_emailed_one(fast_store: Store) -> None:
    await invite(fast_store, "ann@x.org")
    emailed = await accept_link(fast_store, "ann@x.org")
    (invitation,) = await list_invitations(fast_store)
    updated, url = await fresh_invitation_link(fast_store, invitation.id, actor=ADMIN)
    assert url != emailed and url.startswith(fast_store.settings.base_url + "/invite/")
    assert updated.outbox_id is None  # no email carries the current link
    with pytest.raises(InvitationUnusable):
        await invitation_for_token(fast_store, token_of(emailed))
    user = await accept_invitation(fast_store, token_of(url), FORM, actor="web 1.2.3.4")
    assert user.email == "ann@x.org"
    with pytest.raises(InvitationError, match="already accepted"):
        await fresh_invitation_link(fast_store, invitation.id, actor=ADMIN)
    with pytest.raises(InvitationError, match="already accepted"):
        await resend_invitation(fast_store, invitation.id, actor=ADMIN)


# --- acceptance ----------------------------------------------------------------------------------


async def test_accept_creates_an_active_account(fast_store: Store) -> None:
    await invite(fast_store, "Ann Lee <ann@x.org>", level="manager")
    token = token_of(await accept_link(fast_store, "ann@x.org"))
    user = await accept_invitation(fast_store, token, FORM, actor="web 1.2.3.4")
    assert (user.email, user.first_name, user.last_name) == ("ann@x.org", "Ann", "Lee")
    assert (user.status, user.level, user.source) == ("active", "manager", "invitation")
    invitation = await get_invitation(fast_store, user.invitation_id or 0)
    assert invitation is not None
    assert invitation.status == "accepted" and invitation.accepted_at is not None
    stored = await scalar(fast_store, "SELECT password_hash FROM users WHERE id = ?", user.id)
    assert stored.startswith("$argon2id$")
    assert await fast_store.hasher.verify(stored, GOOD_PASSWORD)
    audit = await fast_store.engine.fetchone(
        "SELECT actor, subject FROM audit WHERE action = 'invitation_accepted'"
    )
    assert audit is not None and tuple(audit) == ("web 1.2.3.4", "ann@x.org")
    with pytest.raises(InvitationUnusable) as used:
        await accept_invitation(fast_store, token, FORM, actor="web 1.2.3.4")
    assert used.value.reason == "accepted"


@pytest.mark.parametrize(
    ("form", "fields"),
    [
        (AcceptForm(), {"first_name", "password"}),  # a last name may be empty (issue 17)
        (
            AcceptForm(first_name="Ann", last_name="Lee", password="short", password_confirm=""),
            {"password"},
        ),
        (
            AcceptForm(
                first_name="Ann", last_name="Lee", password="password", password_confirm="password"
            ),
            {"password"},
        ),
        (
            AcceptForm(
                first_name="Ann",
                last_name="Lee",
                password="ann@x.org",
                password_confirm="ann@x.org",
            ),
            {"password"},
        ),
        (
            AcceptForm(
                first_name=" ", last_name="L" * 101, password=GOOD_PASSWORD, password_confirm="x"
            ),
            {"first_name", "last_name", "password_confirm"},
        ),
    ],
)
async def test_accept_refuses_bad_forms_without_writing(
    fast_store: Store, form: AcceptForm, fields: set[str]
) -> None:
    await invite(fast_store, "ann@x.org")
    token = token_of(await accept_link(fast_store, "ann@x.org"))
    calls = fast_store.hasher.calls
    with pytest.raises(AcceptRefused) as refused:
        await accept_invitation(fast_store, token, form, actor="web")
    assert set(refused.value.errors) == fields
    assert fast_store.hasher.calls == calls  # nothing hashed for a refused form
    assert await scalar(fast_store, "SELECT count(*) FROM users") == 0
    assert (await invitation_for_token(fast_store, token)).status == "pending"


async def test_accepting_twice_at_the_same_moment_makes_one_account(
    fast_store: Store, settings: Settings
) -> None:
    await invite(fast_store, "ann@x.org")
    token = token_of(await accept_link(fast_store, "ann@x.org"))
    async with await Store.open(settings, hasher=cheap_hasher()) as other:  # "another process"
        outcomes = await asyncio.gather(
            *(
                accept_invitation(store, token, FORM, actor="web")
                for store in (fast_store, other, fast_store, other)
            ),
            return_exceptions=True,
        )
    users = [o for o in outcomes if not isinstance(o, BaseException)]
    refusals = [o for o in outcomes if isinstance(o, InvitationUnusable)]
    assert len(users) == 1 and len(refusals) == 3
    assert {r.reason for r in refusals} == {"accepted"}
    assert await scalar(fast_store, "SELECT count(*) FROM users") == 1


async def test_expired_invitation_is_refused(fast_store: Store) -> None:
    await invite(fast_store, "ann@x.org", valid=timedelta(seconds=-1))
    token = token_of(await accept_link(fast_store, "ann@x.org"))
    with pytest.raises(InvitationUnusable) as refused:
        await accept_invitation(fast_store, token, FORM, actor="web")
    assert refused.value.reason == "expired"
    assert await scalar(fast_store, "SELECT count(*) FROM users") == 0


async def test_unknown_tokens_are_unknown(fast_store: Store) -> None:
    for token in ("", "nope", "x" * 500):
        with pytest.raises(InvitationUnusable) as refused:
            await invitation_for_token(fast_store, token)
        assert refused.value.reason == "unknown"


async def test_an_existing_account_means_sign_in(fast_store: Store) -> None:
    await invite(fast_store, "ann@x.org")
    token = token_of(await accept_link(fast_store, "ann@x.org"))
    await add_user(fast_store, "ANN@x.org")
    with pytest.raises(AccountExists):
        await accept_invitation(fast_store, token, FORM, actor="web")
    assert (await invitation_for_token(fast_store, token)).status == "pending"
    assert await scalar(fast_store, "SELECT count(*) FROM users") == 1


# --- bounces, lists, counts ----------------------------------------------------------------------


async def test_bounce_marks_only_the_message_with_the_current_link(fast_store: Store) -> None:
    await invite(fast_store, "ann@x.org, bob@x.org")
    ann, bob = sorted(await list_invitations(fast_store), key=lambda i: i.email)
    assert ann.outbox_id is not None and bob.outbox_id is not None
    await resend_invitation(fast_store, bob.id, actor=ADMIN)  # bob's first email is superseded
    async with fast_store.write() as tx:
        assert await mark_bounced_for_outbox(tx, bob.outbox_id, reason="550 no") is None
        assert await mark_bounced_for_outbox(tx, ann.outbox_id, reason="550 no such user") == ann.id
    bounced = await get_invitation(fast_store, ann.id)
    assert bounced is not None and bounced.status == "bounced"
    assert (await invitation_counts(fast_store))["bounced"] == 1
    assert (await fast_store.counts()).invitations_bounced == 1
    entry = await fast_store.engine.fetchone(
        "SELECT actor, details FROM audit WHERE action = 'invitation_bounced'"
    )
    assert entry is not None and entry["actor"] == "mail delivery"
    assert "550 no such user" in entry["details"]
    # a bounced invitation can be sent again, and it is pending once more
    assert (await resend_invitation(fast_store, ann.id, actor=ADMIN)).status == "pending"


async def test_list_filters_and_search(fast_store: Store) -> None:
    await invite(fast_store, "Ann Lee <ann@x.org>, bob@y.org, cy@z.org")
    await invite(fast_store, "old@x.org", valid=timedelta(seconds=-1))
    cy = (await list_invitations(fast_store, search="cy@"))[0]
    await revoke_invitation(fast_store, cy.id, actor=ADMIN)
    assert {i.email for i in await list_invitations(fast_store)} == {
        "ann@x.org",
        "bob@y.org",
        "cy@z.org",
        "old@x.org",
    }
    assert {i.email for i in await list_invitations(fast_store, status="pending")} == {
        "ann@x.org",
        "bob@y.org",
    }
    assert [i.email for i in await list_invitations(fast_store, status="expired")] == ["old@x.org"]
    assert [i.email for i in await list_invitations(fast_store, status="revoked")] == ["cy@z.org"]
    assert [i.email for i in await list_invitations(fast_store, search="lee")] == ["ann@x.org"]
    assert await list_invitations(fast_store, search="%") == []
    counts = await invitation_counts(fast_store)
    assert counts == {"pending": 2, "accepted": 0, "expired": 1, "revoked": 1, "bounced": 0}
    assert (await fast_store.counts()).invitations_pending == 2


async def test_preview_of_an_empty_paste(fast_store: Store) -> None:
    preview = await preview_invitations(fast_store, parse_email_list(""))
    assert preview.invited_count(True) == 0 and preview.skipped_count(True) == 0


# --- the email templates -------------------------------------------------------------------------

TEMPLATES = Path(__file__).resolve().parent.parent / "store" / "messaging" / "emails" / "templates"


@pytest.mark.parametrize("message", ["", "See you <b>Monday</b>!\nBring a laptop."])
async def test_invitation_templates_render_with_their_values(
    fast_store: Store, message: str
) -> None:
    """Rendered by the real renderer, as the delivery worker does."""
    await invite(fast_store, "Ann Lee <ann@x.org>", message=message)
    values = await outbox_payload(fast_store, "ann@x.org")
    settings = msgspec.structs.replace(fast_store.settings, org="Acme")
    email = render("invitation", values, settings, recipient="ann@x.org", recipient_name="Ann Lee")
    subject, body, page = email.subject, email.text, email.html
    assert subject == "alice invited you to Acme"  # the inviter named (issue 17)
    assert "\n" not in subject
    assert values["accept_url"] in body and values["accept_url"] in page
    assert "Hello Ann," in body and "as a member" in body and values["expires"] in body
    if message:
        assert "Bring a laptop." in body
        assert "&lt;b&gt;Monday&lt;/b&gt;" in page  # the admin's text is escaped in HTML
    else:
        assert "wrote:" not in body


async def test_invitations_marked_expired_by_housekeeping_behave_the_same(
    fast_store: Store,
) -> None:
    await invite(fast_store, "ann@x.org, bob@x.org", valid=timedelta(seconds=-1))
    old = await accept_link(fast_store, "ann@x.org")
    report = await run_housekeeping(fast_store)
    assert report.invitations_expired == 2
    assert [i.status for i in await list_invitations(fast_store, status="expired")] == [
        "expired",
        "expired",
    ]
    with pytest.raises(InvitationUnusable) as refused:
        await invitation_for_token(fast_store, token_of(old))
    assert refused.value.reason == "expired"
    with pytest.raises(InvitationError, match="already expired"):
        await revoke_invitation(fast_store, (await list_invitations(fast_store))[0].id, actor=ADMIN)
    preview = await preview_text(fast_store, "ann@x.org")
    assert [e.address for e in preview.new] == ["ann@x.org"]  # invited anew, same row
    await invite(fast_store, "ann@x.org")
    bob = (await list_invitations(fast_store, search="bob"))[0]
    assert (await resend_invitation(fast_store, bob.id, actor=ADMIN)).status == "pending"
    assert (await invitation_counts(fast_store))["pending"] == 2
    assert await scalar(fast_store, "SELECT count(*) FROM invitations") == 2
