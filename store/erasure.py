"""Erasure: remove a person's personal data everywhere, in one transaction.

What goes: the user row, their sessions and one-time tokens, every invitation to their address,
every outbox message to their address (sent or not). What stays, without the address: the audit
log's entries about them (the address becomes the pseudonym `user#<id>`, also in entries written
before), other messages that mention them (an admin digest listing them: the address and name
are replaced), and webhook events about them (reduced to their id). The erasure itself is
audited under the pseudonym, and a `user.deleted` webhook (id only) tells other systems.

An unconfirmed account's link use is given back, as when it expires; a confirmed account's use
was spent and stays spent. Deleted rows are overwritten in the file (`secure_delete`), and the
write-ahead log is folded back into the database afterwards, so the address does not linger in
free pages either.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

import msgspec
from email_validator import EmailNotValidError, validate_email

from .audit import record
from .engine import Transaction
from .records import User, from_row
from .settings import Settings
from .webhooks import emit

if TYPE_CHECKING:
    from .core import Store

NAME_KEYS = frozenset({"name", "first_name", "last_name", "recipient_name", "display_name"})
"""In a JSON object that holds the erased address, these keys hold the person's name too."""


class Erased(msgspec.Struct, frozen=True, kw_only=True):
    user_id: int
    pseudonym: str
    status: str
    invitations_removed: int
    messages_removed: int
    messages_redacted: int
    audit_entries_pseudonymised: int
    other_rows_redacted: int
    link_use_returned: bool


class ErasureReport(msgspec.Struct, frozen=True, kw_only=True):
    erased: list[Erased]
    not_found: list[int]


def pseudonym(user_id: int) -> str:
    """What the audit says instead of the address: stable, and meaningless without our data."""
    return f"user#{user_id}"


def address_forms(address: str) -> list[str]:
    """The ways the address may be written in our tables: as stored, and its ASCII (IDNA) and
    Unicode forms for an international domain. Matching is case-insensitive."""
    forms = {address}
    try:
        valid = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        pass
    else:
        forms.add(str(valid.normalized))
        if valid.ascii_email:
            forms.add(str(valid.ascii_email))
    return sorted(forms, key=len, reverse=True)


_BEFORE = r"(?<![\w.!#$%&'*+/=?^`{|}~-])"
_AFTER = r"(?![\w-]|\.[\w-])"
"""The address stands alone: `ann@x.org` is not found inside `joann@x.org` or `ann@x.org.uk`."""


def _pattern(forms: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(form) for form in forms)
    return re.compile(f"{_BEFORE}(?:{alternatives}){_AFTER}", re.IGNORECASE)


def _scrub(value: Any, pattern: re.Pattern[str], replacement: str) -> Any:
    """`value` (decoded JSON) with the address replaced; in an object that holds the address,
    name fields are blanked as well."""
    if isinstance(value, str):
        return pattern.sub(replacement, value)
    if isinstance(value, list):
        return [_scrub(item, pattern, replacement) for item in value]
    if isinstance(value, dict):
        names_here = any(isinstance(v, str) and pattern.search(v) for v in value.values())
        return {
            key: (
                ""
                if names_here and key in NAME_KEYS and isinstance(item, str)
                else _scrub(item, pattern, replacement)
            )
            for key, item in value.items()
        }
    return value


def _scrub_json(text: str, pattern: re.Pattern[str], replacement: str) -> str:
    try:
        decoded = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return pattern.sub(replacement, text)
    return msgspec.json.encode(_scrub(decoded, pattern, replacement)).decode()


def _like(form: str) -> str:
    escaped = form.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _scrub_text(text: str, pattern: re.Pattern[str], replacement: str) -> str:
    if text[:1] in ("{", "["):
        return _scrub_json(text, pattern, replacement)
    return pattern.sub(replacement, text)


async def _text_columns(tx: Transaction) -> list[tuple[str, list[str]]]:
    """Every table and its text columns: the sweep covers tables added later too."""
    tables = await tx.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    found: list[tuple[str, list[str]]] = []
    for table in tables:
        name = str(table["name"])
        columns = await tx.fetchall(f'PRAGMA table_info("{name}")')
        text = [str(c["name"]) for c in columns if str(c["type"]).upper().startswith("TEXT")]
        if text:
            found.append((name, text))
    return found


async def _sweep(tx: Transaction, forms: list[str], alias: str) -> dict[str, int]:
    """Replace the address by `alias` wherever it is still written; rows changed per table.

    LIKE finds candidates (case-insensitively for ASCII); the pattern decides and replaces.
    """
    pattern = _pattern(forms)
    changed: dict[str, int] = {}
    for table, columns in await _text_columns(tx):
        clauses = " OR ".join(f"\"{c}\" LIKE ? ESCAPE '\\'" for c in columns for _ in forms)
        params = [_like(form) for _ in columns for form in forms]
        picked = ", ".join(f'"{c}"' for c in columns)
        rows = await tx.fetchall(
            f'SELECT rowid AS _rowid, {picked} FROM "{table}" WHERE {clauses}',  # noqa: S608
            params,
        )
        for row in rows:
            new = {c: row[c] for c in columns if isinstance(row[c], str)}
            new = {c: _scrub_text(v, pattern, alias) for c, v in new.items()}
            new = {c: v for c, v in new.items() if v != row[c]}
            if not new:
                continue
            sets = ", ".join(f'"{c}" = ?' for c in new)
            await tx.execute(
                f'UPDATE "{table}" SET {sets} WHERE rowid = ?',  # noqa: S608 - names from schema
                [*new.values(), row["_rowid"]],
            )
            changed[table] = changed.get(table, 0) + 1
    return changed


async def erase_user_in(
    tx: Transaction, settings: Settings, user_id: int, *, actor: str
) -> Erased | None:
    """Erase one person inside the caller's transaction; None when there is no such user."""
    row = await tx.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
    if row is None:
        return None
    user = from_row(row, User)
    alias = pseudonym(user.id)
    forms = address_forms(user.email)
    returned = False
    if user.status == "unconfirmed" and user.link_id is not None:
        returned = bool(
            await tx.execute(
                "UPDATE invite_links SET uses = uses - 1 WHERE id = ? AND uses > 0",
                (user.link_id,),
            )
        )
    await tx.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
    await tx.execute("DELETE FROM action_tokens WHERE user_id = ?", (user.id,))
    await tx.execute("DELETE FROM users WHERE id = ?", (user.id,))
    marks = ",".join("?" * len(forms))
    invitations = await tx.execute(
        f"DELETE FROM invitations WHERE email IN ({marks})",  # noqa: S608 - placeholders only
        forms,
    )
    messages = await tx.execute(
        f"DELETE FROM outbox WHERE channel = 'email' "  # noqa: S608 - placeholders only
        f"AND recipient COLLATE NOCASE IN ({marks})",
        forms,
    )
    # Webhook events about them keep their id (receivers may still need to learn of them).
    for event in await tx.fetchall(
        "SELECT id, payload FROM outbox WHERE channel = 'webhook' "
        "AND json_valid(payload) AND json_extract(payload, '$.user.id') = ?",
        (user.id,),
    ):
        body = msgspec.json.decode(event["payload"])
        body["user"] = {"id": user.id}
        await tx.execute(
            "UPDATE outbox SET payload = ? WHERE id = ?",
            (msgspec.json.encode(body).decode(), event["id"]),
        )
    swept = await _sweep(tx, forms, alias)
    erased = Erased(
        user_id=user.id,
        pseudonym=alias,
        status=user.status,
        invitations_removed=invitations,
        messages_removed=messages,
        messages_redacted=swept.pop("outbox", 0),
        audit_entries_pseudonymised=swept.pop("audit", 0),
        other_rows_redacted=sum(swept.values()),
        link_use_returned=returned,
    )
    details = msgspec.structs.asdict(erased)
    details.update(level=user.level, source=user.source)
    await record(tx, actor, "user_deleted", alias, details)
    await emit(tx, settings, "user.deleted", user)
    tx.touch("users", "sessions", "action_tokens", "invitations", "outbox", "invite_links")
    return erased


async def erase_users(store: Store, user_ids: Collection[int], *, actor: str) -> ErasureReport:
    """Erase these people in ONE transaction (all of them or, on an error, none)."""
    erased: list[Erased] = []
    missing: list[int] = []
    async with store.write("users") as tx:
        # Overwrite what is deleted, so the address does not linger in the file's free pages.
        mode = await tx.fetchone("PRAGMA secure_delete")
        await tx.execute("PRAGMA secure_delete = ON")
        try:
            for user_id in dict.fromkeys(user_ids):
                done = await erase_user_in(tx, store.settings, user_id, actor=actor)
                if done is None:
                    missing.append(user_id)
                else:
                    erased.append(done)
        finally:
            await tx.execute(f"PRAGMA secure_delete = {int(mode[0]) if mode else 0}")
    if erased:
        await store.engine.checkpoint()
    return ErasureReport(erased=erased, not_found=missing)
