"""Erasure: remove a person's personal data everywhere, in one transaction.

What goes: the user row, their sessions and one-time tokens, every invitation to their address,
every outbox message to their address (sent or not, with its `USHER_MAIL_DIR` copy), and their
webhook events not delivered yet (cancelled: an event's body never changes once written). What
stays, without the address: the audit log's entries about them (the address becomes the
pseudonym `user#<id>`, also in entries written before), other messages that mention them (an
admin digest listing them: the address and name are replaced, in its `.eml` copy too), and the
stored copies of events already delivered. The erasure itself is audited under the pseudonym,
and a `user.deleted` webhook (id only) tells other systems.

A message to them that a worker is sending right now is waited for (a bounded wait), so it is
not deleted under the worker; and because workers record results by id AND lease holder, even
an erasure that stops waiting cannot make the worker's result land on another row.

An unconfirmed account's link use is given back, as when it expires; a confirmed account's use
was spent and stays spent. Afterwards the engine purges every table the address may be in
(`purge_deleted`): on SQLite deleted cells were overwritten in place (`secure_delete`) and the
write-ahead log is folded in and truncated; on PostgreSQL, where a deleted or updated row stays
in the file as a dead tuple (also one deleted before the erasure), `VACUUM FULL` writes those
tables anew without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

import msgspec
from email_validator import EmailNotValidError, validate_email

from store.accounts.acting import require
from store.accounts.audit import record
from store.database.engine import Transaction
from store.database.instance_lock import holder_gone
from store.domain.clock import db_now
from store.domain.records import User, from_row
from store.domain.text import like_pattern
from store.messaging.mail_files import follow_in, rewrite_eml
from store.messaging.outbox import OutboxMessage
from store.messaging.webhooks import emit
from store.service.settings import Settings

if TYPE_CHECKING:
    from store.database.core import Store

log = logging.getLogger("usher.erasure")

IN_FLIGHT_WAIT = 60.0
"""Seconds an erasure waits for a message to the person that a worker is sending (an SMTP
command times out after 30 s by default)."""
IN_FLIGHT_POLL = 0.25

ERASE_BATCH = 10
"""People per transaction: on 50,000 users and 250,000 audit entries, ten take about 1.7 s of
write lock (bench/bench_erasure.py), well inside other processes' 5 s busy timeout."""

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
    tables_to_purge: list[str] = []
    """Every table the address may have been written in, so may still be in as a deleted
    row's leftover (a sign-in's failures, deleted when it succeeded): purged afterwards."""


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
    alternatives = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
    return re.compile(f"{_BEFORE}(?:{alternatives}){_AFTER}", re.IGNORECASE)


class _Replacer:
    """Replaces any erased person's address by their pseudonym and notes whose it was."""

    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = {form.casefold(): alias for form, alias in aliases.items()}
        self.pattern = _pattern(aliases)
        self.hits: set[str] = set()

    def __call__(self, match: re.Match[str]) -> str:
        alias = self.aliases.get(match.group(0).casefold(), "user#?")
        self.hits.add(alias)
        return alias

    def sub(self, text: str) -> str:
        return self.pattern.sub(self, text)


def _scrub(value: Any, replacer: _Replacer) -> Any:
    """`value` (decoded JSON) with addresses replaced; in an object that holds one, name fields
    are blanked as well."""
    if isinstance(value, str):
        return replacer.sub(value)
    if isinstance(value, list):
        return [_scrub(item, replacer) for item in value]
    if isinstance(value, dict):
        names_here = any(isinstance(v, str) and replacer.pattern.search(v) for v in value.values())
        return {
            key: (
                ""
                if names_here and key in NAME_KEYS and isinstance(item, str)
                else _scrub(item, replacer)
            )
            for key, item in value.items()
        }
    return value


def _scrub_text(text: str, replacer: _Replacer) -> str:
    if text[:1] in ("{", "["):
        try:
            decoded = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return replacer.sub(text)
        return msgspec.json.encode(_scrub(decoded, replacer)).decode()
    return replacer.sub(text)


async def _sweep(
    tx: Transaction, aliases: dict[str, str], redacted_outbox: set[int] | None = None
) -> dict[str, dict[str, int]]:
    """Replace every erased address (a form → its pseudonym) wherever it is still written, in
    one pass over the tables; returns rows changed per pseudonym and table.

    LIKE finds candidates (case-insensitively for ASCII); the pattern decides and replaces.
    """
    forms = list(aliases)
    changed: dict[str, dict[str, int]] = {}
    for table, keys, columns in await tx.tables_with_text():
        clauses = " OR ".join(f"\"{c}\" LIKE ? ESCAPE '\\'" for c in columns for _ in forms)
        params = [like_pattern(form) for _ in columns for form in forms]
        picked = ", ".join(f'"{c}"' for c in columns)
        row_keys = ", ".join(f"{key} AS _key{i}" for i, key in enumerate(keys))
        same_row = " AND ".join(f"{key} = ?" for key in keys)
        rows = await tx.fetchall(
            f'SELECT {row_keys}, {picked} FROM "{table}" WHERE {clauses}',  # noqa: S608
            params,
        )
        for row in rows:
            replacer = _Replacer(aliases)
            new = {c: _scrub_text(row[c], replacer) for c in columns if isinstance(row[c], str)}
            new = {c: v for c, v in new.items() if v != row[c]}
            if not new:
                continue
            sets = ", ".join(f'"{c}" = ?' for c in new)
            key_values = [row[f"_key{i}"] for i in range(len(keys))]
            await tx.execute(
                f'UPDATE "{table}" SET {sets} WHERE {same_row}',  # noqa: S608 - names from schema
                [*new.values(), *key_values],
            )
            if table == "outbox" and redacted_outbox is not None:
                redacted_outbox.add(int(key_values[0]))
            for alias in replacer.hits:
                per_table = changed.setdefault(alias, {})
                per_table[table] = per_table.get(table, 0) + 1
    return changed


class _Removed(msgspec.Struct, frozen=True, kw_only=True):
    user: User
    forms: list[str]
    invitations: int
    messages: int
    message_ids: list[int]
    link_use_returned: bool


async def _remove(tx: Transaction, user_id: int) -> _Removed | None:
    """Delete what is theirs alone; None when there is no such user."""
    row = await tx.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
    if row is None:
        return None
    user = from_row(row, User)
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
    messages = await tx.fetchall(
        f"DELETE FROM outbox WHERE channel = 'email' "  # noqa: S608 - placeholders only
        f"AND recipient COLLATE NOCASE IN ({marks}) RETURNING id",
        forms,
    )
    # Events are never rewritten: the undelivered ones about them are cancelled (their
    # `user.deleted` follows); delivered ones are history, and the sweep redacts them.
    await tx.execute(
        "DELETE FROM outbox WHERE channel = 'webhook' AND status IN ('queued', 'failed', 'kept') "
        "AND json_valid(payload) AND json_extract(payload, '$.user.id') "
        "IN (SELECT value FROM json_each(?))",
        (msgspec.json.encode([user.id]).decode(),),
    )
    return _Removed(
        user=user,
        forms=forms,
        invitations=invitations,
        messages=len(messages),
        message_ids=[int(row["id"]) for row in messages],
        link_use_returned=returned,
    )


async def _follow_files(
    tx: Transaction, settings: Settings, removed: list[int], redacted: set[int]
) -> None:
    """USHER_MAIL_DIR copies go as the rows do: deleted with them, redacted like them."""
    if not settings.mail_dir:
        return
    follow_in(tx, settings, removed=removed)
    if redacted:
        ids = sorted(redacted)
        marks = ",".join("?" * len(ids))
        rows = await tx.fetchall(
            f"SELECT * FROM outbox WHERE channel = 'email' AND id IN ({marks})",  # noqa: S608
            ids,
        )
        now_written = [from_row(row, OutboxMessage) for row in rows]

        def rewrite() -> None:
            for message in now_written:
                rewrite_eml(settings, message)

        tx.committed.append(rewrite)


async def erase_in(
    tx: Transaction, settings: Settings, user_ids: Iterable[int], *, actor: str
) -> ErasureReport:
    """Erase these people inside the caller's transaction: their rows, then one sweep for
    their addresses everywhere else, then an audit entry and a `user.deleted` event each."""
    removed: list[_Removed] = []
    missing: list[int] = []
    for user_id in dict.fromkeys(user_ids):
        done = await _remove(tx, user_id)
        if done is None:
            missing.append(user_id)
        else:
            removed.append(done)
    aliases = {form: pseudonym(r.user.id) for r in removed for form in r.forms}
    redacted: set[int] = set()
    swept = await _sweep(tx, aliases, redacted) if aliases else {}
    await _follow_files(tx, settings, [i for r in removed for i in r.message_ids], redacted)
    erased: list[Erased] = []
    for r in removed:
        alias = pseudonym(r.user.id)
        tables = dict(swept.get(alias, {}))
        entry = Erased(
            user_id=r.user.id,
            pseudonym=alias,
            status=r.user.status,
            invitations_removed=r.invitations,
            messages_removed=r.messages,
            messages_redacted=tables.pop("outbox", 0),
            audit_entries_pseudonymised=tables.pop("audit", 0),
            other_rows_redacted=sum(tables.values()),
            link_use_returned=r.link_use_returned,
        )
        details = msgspec.structs.asdict(entry)
        details.update(level=r.user.level, source=r.user.source)
        await record(tx, actor, "user_deleted", alias, details)
        await emit(tx, settings, "user.deleted", r.user)
        erased.append(entry)
    removed_from = ("users", "sessions", "action_tokens", "invitations", "outbox", "invite_links")
    tx.touch(*removed_from)
    swept_tables = {table.name for table in await tx.tables_with_text()} if aliases else set()
    return ErasureReport(
        erased=erased, not_found=missing, tables_to_purge=sorted(swept_tables.union(removed_from))
    )


async def _in_flight(store: Store, user_ids: list[int]) -> int:
    """Messages to these people (or events about them) a live worker is sending right now."""
    ids = msgspec.json.encode(user_ids).decode()
    users = await store.engine.fetchall(
        "SELECT email FROM users WHERE id IN (SELECT value FROM json_each(?))", (ids,)
    )
    forms = [form for row in users for form in address_forms(str(row["email"]))]
    if not forms:
        return 0
    marks = ",".join("?" * len(forms))
    rows = await store.engine.fetchall(
        f"""SELECT lease_owner FROM outbox
             WHERE status = 'sending' AND lease_until >= ? AND lease_owner IS NOT NULL
               AND ((channel = 'email' AND recipient COLLATE NOCASE IN ({marks}))
                    OR (channel = 'webhook' AND json_valid(payload)
                        AND json_extract(payload, '$.user.id')
                            IN (SELECT value FROM json_each(?))))""",  # noqa: S608
        (db_now(), *forms, ids),
    )
    path = store.engine.path
    return sum(not holder_gone(path, str(row["lease_owner"])) for row in rows)


async def wait_for_in_flight(
    store: Store, user_ids: list[int], *, timeout: float = IN_FLIGHT_WAIT
) -> bool:
    """Until no live worker is sending anything to or about these people (their rows are then
    sent, or back in the queue, and can be removed); False if `timeout` passed first. Erasing
    under a worker is harmless to others anyway (results are recorded by id and lease holder),
    but waiting lets the message in flight finish and its copy go with the rest."""
    deadline = time.monotonic() + timeout
    async with store.feed.listening() as changes:
        while await _in_flight(store, user_ids):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("erasing while a message to user(s) %s is still being sent", user_ids)
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(anext(changes), min(remaining, IN_FLIGHT_POLL))
    return True


async def erase_users(store: Store, user_ids: Collection[int], *, actor: str) -> ErasureReport:
    """Erase these people: each one in a single transaction, up to ERASE_BATCH per transaction
    (the sweep reads the whole database once per transaction, holding the write lock), each
    batch once no worker is sending anything to them (`wait_for_in_flight`)."""
    require("erasure")
    ids = list(dict.fromkeys(user_ids))
    erased: list[Erased] = []
    missing: list[int] = []
    touched: set[str] = set()
    for start in range(0, len(ids), ERASE_BATCH):
        await wait_for_in_flight(store, ids[start : start + ERASE_BATCH])
        async with store.write("users") as tx, tx.overwriting_deletes():
            part = await erase_in(tx, store.settings, ids[start : start + ERASE_BATCH], actor=actor)
        erased += part.erased
        missing += part.not_found
        touched.update(part.tables_to_purge)
    if erased:
        await store.engine.purge_deleted(touched)
    return ErasureReport(erased=erased, not_found=missing)
