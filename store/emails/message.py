"""The MIME message: From, To, Subject, Date, Message-ID and a text + HTML alternative.

No header can carry a line break: names and subjects (which may hold user text) are folded to
one line first; anything still holding CR, LF or NUL — addresses, the Message-ID — is refused
here, before `email` ever sees it. Names are encoded by `email.headerregistry` (RFC 2047).
"""

from __future__ import annotations

import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING

from ..clock import now
from ..text import clean_line

if TYPE_CHECKING:
    from ..settings import Settings
    from .render import RenderedEmail

MAX_NAME = 200
MAX_SUBJECT = 250
_BREAKS = re.compile(r"[\r\n\x00]")
_SPACES = re.compile(r"\s+")


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


def mailbox(name: str, address: str) -> Address:
    """A header mailbox; the display name is folded, the address must be clean."""
    addr_spec = ascii_domain(address)
    try:
        return Address(display_name=fold_header_text(name, MAX_NAME), addr_spec=addr_spec)
    except (ValueError, IndexError) as error:
        raise HeaderInjectionError(f"{address!r} is not an email address: {error}") from None


def build_message(
    rendered: RenderedEmail,
    settings: Settings,
    *,
    recipient: str,
    recipient_name: str = "",
    message_id: str,
    date: datetime | None = None,
) -> EmailMessage:
    """The message as it goes out; `message_id` is the outbox row's, the same on every retry."""
    sender = mailbox(settings.org, settings.mail_from)
    to = mailbox(recipient_name, recipient)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = fold_header_text(rendered.subject)
    message["Date"] = format_datetime(date or now())
    message["Message-ID"] = reject_breaks("Message-ID", message_id.strip())
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text, cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    for field, value in message.items():
        reject_breaks(field, str(value))
    return message
