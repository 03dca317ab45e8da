"""Invitation emails through the real delivery worker to a real SMTP server (aiosmtpd): what the
invitee receives, the secret scrubbed once sent, and a permanent refusal of the address marking
the invitation `bounced` (a temporary one does not)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import pytest

from store import Settings, Store
from store.messaging.outbox import SCRUBBED, retry
from store.onboarding.invitations import (
    get_invitation,
    invitation_for_token,
    list_invitations,
    resend_invitation,
)

from .fixtures_invitations import ADMIN, invite, token_of
from .fixtures_postgres import settings_on_both_engines
from .fixtures_smtp import (
    SmtpServer,
    all_status,
    deliver_until,
    smtp_server,
    statuses,
    with_smtp,
)
from .helpers import cheap_hasher

__all__ = ["settings_on_both_engines", "smtp_server"]
"""Every store test here runs on SQLite and on PostgreSQL (`settings` is the parametrised one)."""


@pytest.fixture
async def mailing(settings: Settings, smtp_server: SmtpServer) -> AsyncIterator[Store]:
    store = await Store.open(
        with_smtp(settings, smtp_server.url, org="Acme Corp"), hasher=cheap_hasher()
    )
    try:
        yield store
    finally:
        await store.close()


def settled(store: Store, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        current = await statuses(store)
        return len(current) == count and set(current.values()) <= {"sent", "failed"}

    return check


async def test_the_invitee_receives_a_working_link_and_the_secret_is_scrubbed(
    mailing: Store, smtp_server: SmtpServer
) -> None:
    await invite(
        mailing,
        '"Lee, Ann" <ann@example.org>; zoe@bücher.de',
        level="viewer",
        message="Welcome to the spring class",
    )
    await deliver_until(mailing, settled(mailing, 2))
    assert set((await statuses(mailing)).values()) == {"sent"}
    [received] = smtp_server.received_by("ann@example.org")
    message = received.message
    assert message["Subject"] == "alice invited you to Acme Corp"  # issue 17: named
    assert "ann@example.org" in str(message["To"])
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "Hello Ann," in text and "as a viewer" in text
    assert "alice wrote:" in text and "Welcome to the spring class" in text
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "Accept the invitation" in html.get_content()
    match = re.search(r"http://\S+/invite/(\S+)", text)
    assert match
    invitation = await invitation_for_token(mailing, match.group(1))
    assert invitation.email == "ann@example.org"
    # the raw token left the outbox once the message was sent
    row = await mailing.engine.fetchone(
        "SELECT payload FROM outbox WHERE recipient = 'ann@example.org'"
    )
    assert row is not None
    payload = msgspec.json.decode(row["payload"])
    assert payload["accept_url"] == SCRUBBED
    assert match.group(1) not in row["payload"]
    assert (
        len(smtp_server.received_by("zoe@bücher.de"))
        + len(smtp_server.received_by("zoe@xn--bcher-kva.de"))
        == 1
    )


async def test_a_permanent_refusal_marks_the_invitation_bounced(
    mailing: Store, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.reject = {"nobody@example.org"}
    smtp_server.handler.temporary_failures = 1  # the first DATA gets a 451: retried, no bounce
    await invite(mailing, "ann@example.org, nobody@example.org, cy@example.org")
    await deliver_until(mailing, settled(mailing, 3))
    by_email = {i.email: i for i in await list_invitations(mailing)}
    assert by_email["nobody@example.org"].status == "bounced"
    assert by_email["ann@example.org"].status == "pending"
    assert by_email["cy@example.org"].status == "pending"
    counts = await mailing.counts()
    assert counts.invitations_bounced == 1 and counts.invitations_pending == 2
    entry = await mailing.engine.fetchone(
        "SELECT subject, details FROM audit WHERE action = 'invitation_bounced'"
    )
    assert entry is not None and entry["subject"] == "nobody@example.org"
    assert "550" in entry["details"]

    # the admin fixes things and resends: a new email goes out and the invitation is pending
    smtp_server.handler.reject = set()
    bounced = by_email["nobody@example.org"]
    await resend_invitation(mailing, bounced.id, actor=ADMIN)
    # the failed email carried a dead link: it left the outbox, and its badge with it
    assert set((await statuses(mailing)).values()) == {"sent", "queued"}
    await deliver_until(mailing, settled(mailing, 3))
    again = await get_invitation(mailing, bounced.id)
    assert again is not None and again.status == "pending"
    [received] = smtp_server.received_by("nobody@example.org")
    body = received.message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"http://\S+/invite/(\S+)", body.get_content())
    assert (
        match and (await invitation_for_token(mailing, token_of(match.group(0)))).id == bounced.id
    )


async def test_a_bounced_email_retried_from_the_outbox_and_delivered_is_pending_again(
    mailing: Store, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.reject = {"typo@example.org"}
    await invite(mailing, "typo@example.org")
    await deliver_until(mailing, settled(mailing, 1))
    (invitation,) = await list_invitations(mailing)
    assert invitation.status == "bounced" and invitation.outbox_id is not None
    smtp_server.handler.reject = set()  # the relay's configuration was fixed
    await retry(mailing, invitation.outbox_id, ADMIN)
    await deliver_until(mailing, all_status(mailing, "sent", 1))
    again = await get_invitation(mailing, invitation.id)
    assert again is not None and again.status == "pending"
    assert len(smtp_server.received_by("typo@example.org")) == 1
