"""`USHER_MAIL_DIR`: a copy of each email as `<id>.eml` (mode 0600), kept exactly as the
database's copy is. A message's file is written before it is sent (or when it is kept), written
again without its one-time links once it is sent (as its payload is scrubbed), rewritten when an
erasure redacts the row, and deleted with the row (erasure, a revoked invitation).

Files follow rows after the commit (`Transaction.committed`), so a rolled-back change leaves
the files alone.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import msgspec

from store.database.engine import Transaction
from store.messaging.emails import message_bytes, render
from store.messaging.outbox import OutboxMessage, scrubbed_payload
from store.service.settings import Settings

log = logging.getLogger("usher.mail")


def mail_dir(settings: Settings) -> Path | None:
    return Path(settings.mail_dir).expanduser() if settings.mail_dir else None


def eml_bytes(message: OutboxMessage, settings: Settings, *, reveal: bool) -> tuple[bytes, bool]:
    """The message as sent (or written to a file), and whether it needs SMTPUTF8; `reveal`
    keeps secrets in the body."""
    values = message.values() if reveal else message.shown_values()
    rendered = render(
        message.kind,
        values,
        settings,
        recipient=message.recipient,
        recipient_name=message.recipient_name,
    )
    data = message_bytes(
        rendered,
        settings,
        recipient=message.recipient,
        recipient_name=message.recipient_name,
        message_id=message.message_id,
    )
    return data, not data.isascii()  # only an address with a non-ASCII local part is not


def write_eml(directory: Path, message_id: int, data: bytes, *, replace: bool = True) -> None:
    """`<directory>/<id>.eml`, mode 0600, atomically (temp file + rename); with `replace`
    False an existing file is left as it is."""
    path = directory / f"{message_id}.eml"
    if not replace and path.exists():
        return
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = directory / f".{message_id}.eml.{secrets.token_hex(4)}.tmp"
        fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.replace(b"\r\n", b"\n"))
        os.replace(temp, path)
    except OSError as error:
        log.warning("cannot write %s: %s", path, error.strerror or error)


def remove_emls(settings: Settings, message_ids: Iterable[int]) -> None:
    """Delete the files of these messages (their rows are gone)."""
    directory = mail_dir(settings)
    if directory is None:
        return
    for message_id in message_ids:
        path = directory / f"{message_id}.eml"
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("cannot delete %s: %s", path, error.strerror or error)


def rewrite_eml(settings: Settings, message: OutboxMessage) -> None:
    """Write the file again from the row as it now is (secrets scrubbed once sent); only a
    message that has a file already."""
    directory = mail_dir(settings)
    if directory is None or not (directory / f"{message.id}.eml").exists():
        return
    try:
        data, _ = eml_bytes(message, settings, reveal=True)
    except Exception as error:  # the row cannot be rendered any more: no stale copy either
        log.warning("mail #%d: its file is removed (%s)", message.id, error)
        remove_emls(settings, [message.id])
        return
    write_eml(directory, message.id, data)


def scrub_eml(settings: Settings, message: OutboxMessage) -> None:
    """After a send: the file without the message's one-time links, as the row now holds."""
    if not message.secret_keys:
        return
    scrubbed = msgspec.structs.replace(message, payload=scrubbed_payload(message.payload))
    rewrite_eml(settings, scrubbed)


def follow_in(tx: Transaction, settings: Settings, *, removed: Iterable[int] = ()) -> None:
    """Once `tx` commits, delete the files of the outbox rows it removed."""
    gone = list(removed)
    if gone and settings.mail_dir:
        tx.committed.append(lambda: remove_emls(settings, gone))
