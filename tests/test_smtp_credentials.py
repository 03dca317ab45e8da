"""SMTP credentials never go in clear: with a user in USHER_SMTP_URL, TLS is required unless
the URL says `insecure=1` (a real aiosmtpd relay that offers no STARTTLS)."""

from __future__ import annotations

import pytest

from store import Settings, Store
from store.messaging.outbox import get_message
from store.messaging.smtp_url import SmtpUrlError, parse_smtp_url

from .fixtures_smtp import (
    PasswordCheck,
    SmtpServer,
    all_status,
    deliver_until,
    queue_messages,
    running,
    with_smtp,
)


def _plain_relay(check: PasswordCheck) -> SmtpServer:
    """Offers AUTH over plain text and no STARTTLS (it has no certificate)."""
    return SmtpServer(authenticator=check, auth_require_tls=False, auth_required=True)


async def test_credentials_without_starttls_fail_the_message_and_send_no_auth(
    settings: Settings,
) -> None:
    check = PasswordCheck("mailer", "s3cret")
    server = _plain_relay(check)
    url = f"smtp://mailer:s3cret@127.0.0.1:{server.port}"
    with running(server):
        async with await Store.open(with_smtp(settings, url)) as store:
            [message_id] = await queue_messages(store, ["clear@example.org"])
            await deliver_until(store, all_status(store, "failed", 1))
            message = await get_message(store, message_id)
    assert message is not None
    assert "does not offer STARTTLS, so the password would go in clear" in message.last_error
    assert "s3cret" not in message.last_error
    assert check.attempts == []  # no AUTH was sent
    assert server.received == []


async def test_insecure_1_allows_plain_auth_on_purpose(settings: Settings) -> None:
    check = PasswordCheck("mailer", "s3cret")
    server = _plain_relay(check)
    url = f"smtp://mailer:s3cret@127.0.0.1:{server.port}?insecure=1"
    with running(server):
        async with await Store.open(with_smtp(settings, url)) as store:
            await queue_messages(store, ["trusted@example.org"])
            await deliver_until(store, all_status(store, "sent", 1))
    assert check.attempts == ["mailer"]
    assert len(server.received) == 1


def test_a_user_in_the_url_requires_tls() -> None:
    assert parse_smtp_url("smtp://bob:pw@relay:587").starttls is True  # required, not "if offered"
    assert parse_smtp_url("smtp://relay:25").starttls is None  # no credentials: as offered
    assert parse_smtp_url("smtp://bob:pw@relay?insecure=1").starttls is None
    assert parse_smtp_url("smtps://bob:pw@relay").implicit_tls
    with pytest.raises(SmtpUrlError, match="would go in clear"):
        parse_smtp_url("smtp://bob:pw@relay?starttls=0")
    assert parse_smtp_url("smtp://bob:pw@relay?starttls=0&insecure=1").starttls is False
