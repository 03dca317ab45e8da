"""The MIME message: From, To, Subject, Date, Message-ID and a text + HTML alternative.

No header can carry a line break: names and subjects (which may hold user text) are folded to
one line first; anything still holding CR, LF or NUL — addresses, the Message-ID — is refused
here. Non-ASCII names and subjects become RFC 2047 encoded words (`email.header.Header`).

The worker writes the bytes itself (`message_bytes`): the message always has the same simple
shape, and `email.message.EmailMessage` with its header registry cost ~1.5 ms a message, most
of the worker's time. `build_message` parses those same bytes back for callers that want an
`EmailMessage`, so there is one way a message is written.
"""

from __future__ import annotations

import binascii
import email
import re
import secrets
from datetime import datetime
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import TYPE_CHECKING

import msgspec

from store.domain.clock import now
from store.domain.text import clean_line

if TYPE_CHECKING:
    from store.service.settings import Settings


class RenderedEmail(msgspec.Struct, frozen=True):
    """An email's three parts as rendered for one person, before it becomes a message."""

    subject: str
    text: str
    html: str


MAX_NAME = 200
MAX_SUBJECT = 250
_BREAKS = re.compile(r"[\r\n\x00]")
_SPACES = re.compile(r"\s+")
CRLF = "\r\n"


class HeaderInjectionError(ValueError):
    """A header value holds CR, LF or NUL, or an address cannot be put in a header."""


def fold_header_text(value: str, limit: int = MAX_SUBJECT) -> str:
    """One line of text fit for a header: line breaks and runs of spaces become one space,
    control characters go. Used for names and subjects, which may hold user text."""
    return clean_line(_SPACES.sub(" ", value)).strip()[:limit]


def reject_breaks(field: str, value: str) -> str:
    if _BREAKS.search(value):
        raise HeaderInjectionError(f"{field} contains a line break or NUL")
    return value


def ascii_domain(address: str) -> str:
    """`ann@bücher.de` → `ann@xn--bcher-kva.de` (IDN domains go over SMTP in ASCII)."""
    reject_breaks("address", address)
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise HeaderInjectionError(f"{address!r} is not an email address")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise HeaderInjectionError(f"{address!r} has a domain that cannot be encoded") from None
    return f"{local}@{domain}"


_ENCODE_WORDS = "=?"
"""ASCII text holding this could be read as an encoded word: it is encoded itself."""


def mailbox(name: str, address: str) -> str:
    """A From/To header value: the display name folded and, if it needs it, quoted or RFC 2047
    encoded; the address must be clean (its domain goes out in ASCII)."""
    addr_spec = ascii_domain(address)
    local = addr_spec.rpartition("@")[0]
    if not local or any(ch in local for ch in ' <>(),;:\\"[]') or local.startswith("."):
        raise HeaderInjectionError(f"{address!r} is not an email address")
    display = fold_header_text(name, MAX_NAME)
    if not display:
        return addr_spec
    if display.isascii() and _ENCODE_WORDS not in display:
        return formataddr((display, addr_spec))
    return f"{Header(display, 'utf-8').encode(linesep=CRLF)} <{addr_spec}>"


def _subject(text: str) -> str:
    charset = "us-ascii" if text.isascii() and _ENCODE_WORDS not in text else "utf-8"
    return Header(text, charset, header_name="Subject").encode(linesep=CRLF)


def _message_id(value: str) -> str:
    """The row's Message-ID, in ASCII: a non-ASCII domain (from USHER_MAIL_FROM) goes as IDNA."""
    reject_breaks("Message-ID", value)
    if value.isascii():
        return value
    local, at, domain = value.removeprefix("<").removesuffix(">").rpartition("@")
    try:
        ascii_id = f"<{local}{at}{domain.encode('idna').decode('ascii')}>"
    except UnicodeError:
        raise HeaderInjectionError(f"Message-ID {value!r} cannot be encoded") from None
    if not ascii_id.isascii():
        raise HeaderInjectionError(f"Message-ID {value!r} cannot be encoded")
    return ascii_id


def _quoted_printable(body: str) -> bytes:
    """UTF-8, quoted-printable (trailing spaces and `=` encoded, lines of at most 76), CRLF."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    encoded = encoded.replace(b"\n", b"\r\n")
    return encoded + b"\r\n"  # the CRLF before a boundary belongs to the boundary, not the body


def message_bytes(
    rendered: RenderedEmail,
    settings: Settings,
    *,
    recipient: str,
    recipient_name: str = "",
    message_id: str,
    date: datetime | None = None,
) -> bytes:
    """The message as it goes out, CRLF line ends; `message_id` is the outbox row's, the same on
    every retry. All ASCII, unless an address has a non-ASCII local part (then it is sent with
    SMTPUTF8, the address as UTF-8)."""
    sender = mailbox(settings.org, settings.mail_from)
    to = mailbox(recipient_name, recipient)
    subject = _subject(fold_header_text(rendered.subject))
    mid = _message_id(message_id.strip())
    # `=_` never occurs in quoted-printable text, so no part can contain the boundary.
    boundary = f"=_usher_{secrets.token_hex(12)}"
    head = CRLF.join(
        (
            f"From: {sender}",
            f"To: {to}",
            f"Subject: {subject}",
            f"Date: {format_datetime(date or now())}",
            f"Message-ID: {mid}",
            "Auto-Submitted: auto-generated",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
            "",
            "",
        )
    )
    part = "--{0}\r\nContent-Type: text/{1}; charset=utf-8\r\n" + (
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    return b"".join(
        (
            head.encode("utf-8"),
            part.format(boundary, "plain").encode("ascii"),
            _quoted_printable(rendered.text),
            part.format(boundary, "html").encode("ascii"),
            _quoted_printable(rendered.html),
            f"--{boundary}--\r\n".encode("ascii"),
        )
    )


def build_message(
    rendered: RenderedEmail,
    settings: Settings,
    *,
    recipient: str,
    recipient_name: str = "",
    message_id: str,
    date: datetime | None = None,
) -> EmailMessage:
    """`message_bytes` parsed back into an `EmailMessage` (for tests and anyone who wants to
    look inside; the worker sends the bytes)."""
    data = message_bytes(
        rendered,
        settings,
        recipient=recipient,
        recipient_name=recipient_name,
        message_id=message_id,
        date=date,
    )
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed
