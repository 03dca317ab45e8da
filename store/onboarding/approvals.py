"""Sign-ups waiting for an admin: the list, and approving or rejecting one or many at once.

A decision is one transaction and applies only to users still pending
(`UPDATE … WHERE id IN (…) AND status = 'pending'`), so two admins (or two processes) deciding
the same person at once produce one decision and one email; the loser is told who won.
Approval activates the account and queues `approved`; rejection queues `rejected` (with the
reason when one was given). Both are audited with the actor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from store.accounts.acting import require
from store.accounts.audit import record
from store.accounts.users import UserView, chunked
from store.database.core import Store
from store.database.engine import Engine, Transaction
from store.database.schedule import runs_scheduled_work
from store.domain.clock import db_now, from_db
from store.domain.records import User, from_rows
from store.domain.text import like_pattern, strip_unsafe
from store.domain.vocabulary import AuditAction
from store.messaging.outbox import enqueue
from store.messaging.webhooks import Event, emit

log = logging.getLogger("usher.approvals")

Verdict = Literal["approved", "rejected"]

MAX_REASON = 1000
"""Characters of a rejection reason kept (it goes into an email)."""


class AlreadyDecided(msgspec.Struct, frozen=True, kw_only=True):
    """A user someone else decided (or who was never pending) when we tried to."""

    id: int
    email: str
    name: str
    status: str
    decided_by: str | None = None
    decided_at: datetime | None = None

    def describe(self, *, by_email: bool = False) -> str:
        """`Bea Smith was already approved by alice (ssh 10.0.0.7)` — for messages.

        `by_email` names the person by their address (`bea@acme.org was already …`): the
        command line is given addresses and ids, and an address is what identifies one there."""
        who = self.email if by_email or not self.name else self.name
        if self.status == "active" and self.decided_by:
            return f"{who} was already approved by {self.decided_by}"
        if self.status == "rejected" and self.decided_by:
            return f"{who} was already rejected by {self.decided_by}"
        return f"{who} is no longer pending (now {self.status})"


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    verdict: Verdict
    decided: list[User]
    """Users this call decided (each got exactly one email)."""
    already_decided: list[AlreadyDecided]
    """Users that were not pending any more: nothing changed, nothing sent."""
    not_found: list[int]


def _pending_where(term: str) -> tuple[str, dict[str, Any]]:
    """FROM … WHERE for the pending list, narrowed by `term` (see list_pending)."""
    sql = """FROM users AS u LEFT JOIN invite_links AS l ON l.id = u.link_id
             WHERE u.status = 'pending'"""
    params: dict[str, Any] = {}
    if term.strip():
        sql += """ AND (u.email LIKE :like ESCAPE '\\'
                   OR (u.first_name || ' ' || u.last_name) LIKE :like ESCAPE '\\'
                   OR coalesce(l.label, '') LIKE :like ESCAPE '\\')"""
        params["like"] = like_pattern(term.strip())
    return sql, params


async def list_pending(
    engine: Engine, term: str = "", *, limit: int | None = None
) -> list[UserView]:
    """Everyone awaiting approval, oldest sign-up first, with the label of their link.

    `term` narrows to a substring of name, email or link label (case-insensitive); `limit` keeps
    the oldest N (a screen re-reads on every change: 50,000 rows would take a second each time).
    """
    where, params = _pending_where(term)
    sql = f"SELECT u.*, l.label AS link_label {where} ORDER BY u.created_at, u.id"
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    return from_rows(await engine.fetchall(sql, params), UserView)


async def count_pending(engine: Engine, term: str = "") -> int:
    """How many list_pending(term) would return without a limit."""
    where, params = _pending_where(term)
    return int(await engine.scalar(f"SELECT count(*) {where}", params) or 0)


async def pending_ids(engine: Engine) -> list[int]:
    rows = await engine.fetchall(
        "SELECT id FROM users WHERE status = 'pending' ORDER BY created_at, id"
    )
    return [int(row["id"]) for row in rows]


async def approve(store: Store, user_ids: Collection[int], *, actor: str) -> Decision:
    """Activate these pending users and queue their "your account is ready" emails."""
    require("approvals")
    return await _decide(store, user_ids, verdict="approved", actor=actor, reason="")


async def reject(
    store: Store, user_ids: Collection[int], *, actor: str, reason: str = ""
) -> Decision:
    """Reject these pending users and email them (with `reason` when given)."""
    require("approvals")
    reason = strip_unsafe(reason, multiline=True)[:MAX_REASON]
    return await _decide(store, user_ids, verdict="rejected", actor=actor, reason=reason)


async def _decide(
    store: Store, user_ids: Collection[int], *, verdict: Verdict, actor: str, reason: str
) -> Decision:
    ids = sorted(set(user_ids))
    status = "active" if verdict == "approved" else "rejected"
    now = db_now()
    decided: list[User] = []
    async with store.write("users") as tx:
        for chunk in chunked(ids):
            marks = ",".join("?" * len(chunk))
            rows = await tx.fetchall(
                f"""UPDATE users
                    SET status = ?, decided_by = ?, decided_at = ?, decision_reason = ?,
                        updated_at = ?
                    WHERE id IN ({marks}) AND status = 'pending'
                    RETURNING *""",  # noqa: S608 - placeholders only
                (status, actor, now, reason or None, now, *chunk),
            )
            decided += from_rows(rows, User)
        decided.sort(key=lambda user: user.id)
        done = {user.id for user in decided}
        already, missing = await _others(tx, [i for i in ids if i not in done])
        for user in decided:
            await _announce(tx, store, user, verdict, actor, reason)
    return Decision(verdict=verdict, decided=decided, already_decided=already, not_found=missing)


async def _others(tx: Transaction, ids: list[int]) -> tuple[list[AlreadyDecided], list[int]]:
    """Why the ids we did not decide were left: decided already, or not there at all."""
    already: list[AlreadyDecided] = []
    for chunk in chunked(ids):
        marks = ",".join("?" * len(chunk))
        for row in await tx.fetchall(
            f"""SELECT id, email, first_name, last_name, status, decided_by, decided_at
                FROM users WHERE id IN ({marks}) ORDER BY id""",  # noqa: S608 - placeholders only
            chunk,
        ):
            already.append(
                AlreadyDecided(
                    id=int(row["id"]),
                    email=str(row["email"]),
                    name=f"{row['first_name']} {row['last_name']}".strip(),
                    status=str(row["status"]),
                    decided_by=row["decided_by"],
                    decided_at=from_db(row["decided_at"]) if row["decided_at"] else None,
                )
            )
    seen = {entry.id for entry in already}
    return already, [i for i in ids if i not in seen]


async def _announce(
    tx: Transaction, store: Store, user: User, verdict: Verdict, actor: str, reason: str
) -> None:
    if verdict == "approved":
        values: dict[str, Any] = {"login_url": f"{store.settings.base_url}/login"}
        details: dict[str, Any] = {"user_id": user.id, "level": user.level}
    else:
        values = {"reason": reason}
        details = {"user_id": user.id, "reason": reason}
    await enqueue(  # the account's language is in hand: no second look-up when it has one
        tx,
        store.settings,
        to=user.email,
        name=user.name,
        kind=verdict,
        values=values,
        language=user.language,
    )
    action: AuditAction = "user_approved" if verdict == "approved" else "user_rejected"
    await record(tx, actor, action, user.email, details)
    event: Event = "user.approved" if verdict == "approved" else "user.rejected"
    await emit(tx, store.settings, event, user)


# ---------------------------------------------------------------------------- admin digest

DIGEST_INTERVAL = timedelta(minutes=5)
"""At most one "new sign-ups are waiting" email per this interval, however many arrive."""
DIGEST_CHECK_SECONDS = 30.0
DIGEST_META_KEY = "pending_digest_at"
DIGEST_LIST_MAX = 50
"""People named in one digest; the rest are counted."""


async def send_pending_digest(store: Store, *, interval: timedelta = DIGEST_INTERVAL) -> int:
    """Tell the USHER_NOTIFY admins about pending sign-ups not yet told; return how many.

    Check, send and mark are one transaction, so two processes on one database send one
    digest; the time of the last one is kept in `meta`, so the interval holds across them.
    """
    admins = [address for address in store.settings.notify if address]
    if not admins:
        return 0
    now = db_now()
    async with store.write() as tx:
        last = await tx.fetchone("SELECT value FROM meta WHERE key = ?", (DIGEST_META_KEY,))
        if last is not None and str(last["value"]) > db_now(-interval):
            return 0
        # The first DIGEST_LIST_MAX are named and the rest counted: a backlog of thousands
        # costs a count and one UPDATE inside the write lock, not a read of every row.
        rows = await tx.fetchall(
            """SELECT u.*, l.label AS link_label
               FROM users AS u LEFT JOIN invite_links AS l ON l.id = u.link_id
               WHERE u.status = 'pending' AND u.admins_notified_at IS NULL
               ORDER BY u.created_at, u.id LIMIT ?""",
            (DIGEST_LIST_MAX,),
        )
        if not rows:
            return 0
        named = from_rows(rows, UserView)
        fresh = await tx.fetchone(
            "SELECT count(*) AS n FROM users "
            "WHERE status = 'pending' AND admins_notified_at IS NULL"
        )
        new_count = int(fresh["n"]) if fresh else len(named)
        counted = await tx.fetchone("SELECT count(*) AS n FROM users WHERE status = 'pending'")
        total_pending = int(counted["n"]) if counted else new_count
        await tx.execute(
            "UPDATE users SET admins_notified_at = ? "
            "WHERE status = 'pending' AND admins_notified_at IS NULL",
            (now,),
        )
        await tx.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (DIGEST_META_KEY, now),
        )
        people = [
            {"name": user.name, "email": user.email, "level": user.level, "via": user.via}
            for user in named
        ]
        for admin in admins:
            await enqueue(
                tx,
                store.settings,
                to=admin,
                kind="pending_digest",
                values={
                    "count": new_count,
                    "people": people,
                    "more": max(0, new_count - len(people)),
                    "total_pending": total_pending,
                },
            )
    return new_count


async def pending_digest_loop(
    store: Store,
    *,
    interval: timedelta = DIGEST_INTERVAL,
    check_seconds: float = DIGEST_CHECK_SECONDS,
) -> None:
    """Background task (console and `usher serve`): send the admin digest when it is due.

    Looks every `check_seconds` (first at once) and sends at most one digest per `interval`;
    tests shorten both, the console and `usher serve` use the defaults."""
    if not store.settings.notify:
        return
    while True:
        if not await runs_scheduled_work(store):  # another server runs it (PostgreSQL)
            await asyncio.sleep(check_seconds)
            continue
        try:
            sent = await send_pending_digest(store, interval=interval)
        except Exception:
            log.warning("could not queue the pending sign-ups digest", exc_info=True)
        else:
            if sent:
                log.info("queued a digest of %d pending sign-up(s) for the admins", sent)
        await asyncio.sleep(check_seconds)
