"""The delivery worker: takes due messages from the outbox and hands them to the SMTP server.

Runs in every Usher process (console and `usher serve`), all on one database, so messages are
claimed with a lease in one short `BEGIN IMMEDIATE` transaction: `queued` → `sending` with our
owner id and a deadline. A worker that crashed leaves leases that expire, and another worker
takes those messages again. Sends reuse one SMTP connection for a run of messages, and the
server's 250s are committed as `sent` together, a batch at a time (at most `batch` messages or
`record_within` seconds after the first of them, and always before a lease is given back), so a
message we know was accepted is never sent again; a crash before that commit can repeat the
last few, with the same Message-ID (at-least-once).

Transient failures (no connection, timeouts, 4xx) go back to `queued` with exponential backoff
and jitter; after `max_attempts` the message is `failed` with the server's reply. A 5xx for a
recipient fails that message only. With `USHER_MAIL_DIR` set, each message is also written
there as `<id>.eml` (mode 0600), kept ones too, and follows its row (`store.messaging.mail_files`).

Whatever goes wrong with ONE message (a row that cannot be read, a template or payload that
cannot be rendered, an address the relay cannot take) makes that message `failed` with the
reason; the others go on. Results are recorded by id AND lease owner, so a row that was erased
while being sent (and whose id a new row took) is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import aiosmtplib
import msgspec

from store.database.changes import Subscription
from store.database.engine import DatabaseUnavailable, Row
from store.database.instance_lock import HolderMark, clear_dead_marks, holder_gone
from store.domain.clock import db_now, from_db, now, to_db
from store.domain.records import from_row
from store.messaging.emails import HeaderInjectionError, TemplateProblem
from store.messaging.emails.message import ascii_domain
from store.messaging.mail_files import eml_bytes, remove_emls, scrub_eml, write_eml
from store.messaging.outbox import OutboxMessage, scrubbed_payload
from store.messaging.smtp_url import SmtpTarget, SmtpUrlError, parse_smtp_url
from store.onboarding.invitations import mark_bounced_for_outbox, mark_delivered_for_outboxes

if TYPE_CHECKING:
    from store.database.core import Store

log = logging.getLogger("usher.mail")

WAKE_TOPICS = frozenset({"outbox", "*"})

OUTAGE_RETRY = 0.5
"""Seconds before a worker asks a database it could not reach again (doubled each time)."""
OUTAGE_RETRY_MAX = 5.0


class DeliveryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How hard and how often to try. The defaults suit a real relay; tests shrink them."""

    poll: float = 5.0
    """Seconds between looks at the outbox when nothing announced a change."""
    base_delay: float = 30.0
    """Wait after the first failed attempt; doubled after each further one."""
    max_delay: float = 3600.0
    jitter: float = 0.25
    """Up to this fraction is added at random to each wait, so retries do not march in step."""
    max_attempts: int = 10
    lease_seconds: float = 300.0
    batch: int = 50
    """Messages claimed in one transaction, and at most this many 250s recorded in one."""
    record_within: float = 0.25
    """Seconds a server's 250 may wait to be committed as `sent` with the ones after it."""

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after `attempts` failed attempts."""
        delay: float = min(self.max_delay, self.base_delay * 2.0 ** max(0, attempts - 1))
        return delay * (1 + random.uniform(0, self.jitter))


DEFAULTS = DeliveryPolicy()


def policy_with(policy: DeliveryPolicy, changes: Mapping[str, float]) -> DeliveryPolicy:
    """`policy` with some fields changed by name; an unknown name is a TypeError."""
    unknown = set(changes) - set(DeliveryPolicy.__struct_fields__)
    if unknown:
        raise TypeError(f"no delivery policy field {', '.join(sorted(unknown))}")
    return msgspec.structs.replace(policy, **changes) if changes else policy


def new_worker_id() -> str:
    """Who holds a lease: host, process and a random part (two workers in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def smtp_reply(error: aiosmtplib.SMTPResponseException) -> str:
    return f"{error.code} {error.message}".strip()


class Outcome(msgspec.Struct, frozen=True):
    """What happened to one message: sent, try again later, or give up."""

    kind: str  # "sent" | "retry" | "failed"
    error: str = ""
    refused: bool = False
    """The relay refused the recipient's address permanently (5xx at RCPT): a bounce."""


def _is_permanent(code: int) -> bool:
    return 500 <= code < 600


def _raise_if_cancelled() -> None:
    """Honour a cancellation that a library swallowed on its way to us (on Python 3.11,
    `asyncio.wait_for` inside aiosmtplib can return a result instead of raising when the
    cancel and the reply arrive together): the task still counts it, so stop as cancelled."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def run_delivery(
    store: Store,
    *,
    stop_event: asyncio.Event | None = None,
    policy: DeliveryPolicy = DEFAULTS,
    worker_id: str | None = None,
    **changes: float,
) -> None:
    """Deliver the outbox until `stop_event` is set (or the task is cancelled).

    `policy` says how hard and how often to try; `changes` are a few of its fields changed
    (`poll=0.05`: tests). Without SMTP this only writes `.eml` files (when `USHER_MAIL_DIR` is
    set), and returns at once when there is nothing to do at all. Raises SmtpUrlError for an
    unusable `USHER_SMTP_URL` (after logging it).
    """
    settings = store.settings
    target: SmtpTarget | None = None
    if settings.smtp_configured:
        try:
            target = parse_smtp_url(settings.smtp_url)
        except SmtpUrlError as error:
            log.error("mail delivery is off: %s", error)
            raise
    if target is None and not settings.mail_dir:
        log.info("no SMTP server configured: messages are kept in the outbox")
        return
    worker = DeliveryWorker(
        store,
        target,
        policy_with(policy, changes),
        worker_id or new_worker_id(),
    )
    await worker.run(stop_event or asyncio.Event())


class DeliveryWorker:
    """One worker's state: its lease owner id, the open SMTP connection, what it holds.

    It takes only outbox rows of its `channel`; `store.messaging.webhook_delivery` subclasses it for
    webhooks (same leases, backoff and outcomes, a different way to send)."""

    channel: ClassVar[str] = "email"
    noun: ClassVar[str] = "mail"

    def __init__(
        self, store: Store, target: SmtpTarget | None, policy: DeliveryPolicy, owner: str
    ) -> None:
        self.store = store
        self.settings = store.settings
        self.target = target
        self.policy = policy
        self.owner = owner
        mail_dir = self.settings.mail_dir
        self.mail_dir = Path(mail_dir).expanduser() if mail_dir else None
        self._smtp: aiosmtplib.SMTP | None = None
        self._held: set[int] = set()
        self._accepted: list[OutboxMessage] = []
        """Sent (the server said 250), still to be recorded as `sent`; held until then."""
        self._accepted_at = 0.0
        self._lease_renew_at = 0.0
        self._kept_seen = 0
        self._stop = asyncio.Event()
        self._holder: HolderMark | None = None
        self._marks_cleared = False

    # ------------------------------------------------------------ the loop

    async def run(self, stop_event: asyncio.Event) -> None:
        self._stop = stop_event
        log.info("%s delivery started: %s", self.noun, self.describe())
        try:
            async with self.store.feed.listening() as changes:
                while not stop_event.is_set():
                    _raise_if_cancelled()
                    try:
                        await self._work()
                        await self._wait(changes, stop_event, await self._next_wake())
                    except DatabaseUnavailable as error:
                        log.warning("%s delivery waits for the database: %s", self.noun, error)
                        await self._outlast_outage(stop_event)
        except BaseException:  # cancelled, or crashed (the supervisor starts a new worker)
            await self._release_held()
            self._drop_connection()
            raise
        finally:
            await self._close_connection()
            self.release_mark()  # what we could not give back is taken over at once
        await self._release_held()
        log.info("%s delivery stopped", self.noun)

    async def _outlast_outage(self, stop_event: asyncio.Event) -> None:
        """The database went away mid-round (a restart, a failover): this worker lives on,
        keeping its holder mark and what the relay accepted, so nobody takes those messages
        over and sends them again. Once the database answers, they are recorded as sent and
        the messages it did not get to are given back."""
        delay = OUTAGE_RETRY
        while not stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), delay)
            try:
                await self._record_accepted()
            except DatabaseUnavailable:
                delay = min(delay * 2, OUTAGE_RETRY_MAX)
                continue
            await self._release_held()
            log.info("%s delivery resumes: the database answers again", self.noun)
            return

    def describe(self) -> str:
        """Where this worker delivers, for the log."""
        return self.target.describe() if self.target else "no SMTP (files only)"

    async def _work(self) -> None:
        """One round: write `.eml` files of kept messages, send what is due."""
        if self.mail_dir is not None:
            await self.write_kept_files()
        if self.target is not None:
            await self.deliver_due()

    def _sends(self) -> bool:
        return self.target is not None

    async def _next_wake(self) -> float:
        """Seconds until the next retry or lease expiry falls due, at most `poll`."""
        if not self._sends():
            return self.policy.poll
        row = await self.store.engine.fetchone(
            """SELECT min(at) AS at FROM (
                   SELECT min(next_attempt_at) AS at FROM outbox
                    WHERE channel = :channel AND status = 'queued'
                   UNION ALL
                   SELECT min(lease_until) FROM outbox
                    WHERE channel = :channel AND status = 'sending')""",
            {"channel": self.channel},
        )
        if row is None or row["at"] is None:
            return self.policy.poll
        seconds = (from_db(str(row["at"])) - now()).total_seconds()
        return min(self.policy.poll, max(0.0, seconds) + 0.005)

    async def _wait(self, changes: Subscription, stop_event: asyncio.Event, timeout: float) -> None:
        """Until an outbox change is announced, the stop event, or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        stopping = asyncio.ensure_future(stop_event.wait())
        try:
            while not stop_event.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                change = asyncio.ensure_future(anext(changes))
                try:
                    done, _ = await asyncio.wait(
                        {change, stopping}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    if not change.done():
                        change.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await change
                if change in done and WAKE_TOPICS & change.result():
                    return
        finally:
            stopping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopping

    # ------------------------------------------------------------ claiming

    def _mark_held(self) -> None:
        """Before the first claim: our mark, which proves to others that we are alive."""
        if self._holder is None:
            self._holder = HolderMark(self.store.engine.path, self.owner)

    def release_mark(self) -> None:
        if self._holder is not None:
            self._holder.release()
            self._holder = None

    async def _gone_holders(self, at: str) -> list[str]:
        """Owners of live leases who provably died (their mark's lock is free): their messages
        are taken at once instead of after their lease (a `kill -9`, a power cut)."""
        rows = await self.store.engine.fetchall(
            """SELECT DISTINCT lease_owner FROM outbox
                WHERE status = 'sending' AND channel = ? AND lease_until >= ?
                  AND lease_owner IS NOT NULL AND lease_owner != ?""",
            (self.channel, at, self.owner),
        )
        path = self.store.engine.path
        return [str(row[0]) for row in rows if holder_gone(path, str(row[0]))]

    async def claim(self) -> list[OutboxMessage]:
        """Take up to `batch` due messages (and any whose lease expired or whose holder is
        gone) in one transaction."""
        self._mark_held()
        at = db_now()
        until = to_db(now() + _seconds(self.policy.lease_seconds))
        gone = await self._gone_holders(at)
        if gone:
            log.info("%s: taking over the messages of %s (gone)", self.noun, ", ".join(gone))
        elif not self._marks_cleared:  # once: marks of holders that died holding nothing
            self._marks_cleared = True
            holding = await self.store.engine.fetchall(
                "SELECT DISTINCT lease_owner FROM outbox WHERE status = 'sending'"
            )
            owners = [str(row[0]) for row in holding if row[0] is not None]
            clear_dead_marks(self.store.engine.path, keep=owners)
        async with self.store.write() as tx:
            rows = await tx.fetchall(
                """UPDATE outbox
                      SET attempts = attempts + (status = 'sending'),
                          status = 'sending', lease_owner = :owner, lease_until = :until
                    WHERE id IN (
                          SELECT id FROM outbox
                           WHERE channel = :channel
                             AND ((status = 'queued' AND next_attempt_at <= :now)
                                  OR (status = 'sending' AND lease_until < :now)
                                  OR (status = 'sending'
                                      AND lease_owner IN (SELECT value FROM json_each(:gone))))
                           ORDER BY next_attempt_at, id
                           LIMIT :limit)
                RETURNING *""",
                {
                    "owner": self.owner,
                    "until": until,
                    "now": at,
                    "limit": self.policy.batch,
                    "channel": self.channel,
                    "gone": msgspec.json.encode(gone).decode(),
                },
            )
            if rows:  # announce real changes only: "outbox" wakes this very worker again
                tx.touch("outbox")
        readable, unreadable = _read_rows(rows)
        messages = sorted(readable, key=lambda m: (m.next_attempt_at, m.id))
        self._held.update(message.id for message in messages)
        if unreadable:
            await self._fail_unreadable(unreadable)
        self._lease_renew_at = time.monotonic() + self.policy.lease_seconds / 2
        return messages

    async def _fail_unreadable(self, problems: dict[int, str]) -> None:
        """Rows we claimed but cannot even read as messages: `failed` with the reason."""
        for message_id, error in problems.items():
            log.warning("%s #%d failed: %s", self.noun, message_id, error)
        async with self.store.write("outbox") as tx:
            await tx.executemany(
                """UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?,
                                     lease_owner = NULL, lease_until = NULL
                   WHERE id = ? AND lease_owner = ? AND status = 'sending'""",
                [(error[:1000], message_id, self.owner) for message_id, error in problems.items()],
            )

    async def _renew_leases(self) -> None:
        """Extend the leases we hold; drop the ones another worker took over meanwhile."""
        if not self._held:
            return
        until = to_db(now() + _seconds(self.policy.lease_seconds))
        held = sorted(self._held)
        marks = ",".join("?" * len(held))
        async with self.store.write() as tx:
            rows = await tx.fetchall(
                f"""UPDATE outbox SET lease_until = ?
                     WHERE id IN ({marks}) AND lease_owner = ? AND status = 'sending'
                 RETURNING id""",  # noqa: S608 - only placeholders are interpolated
                (until, *held, self.owner),
            )
        self._held = {int(row["id"]) for row in rows}
        self._lease_renew_at = time.monotonic() + self.policy.lease_seconds / 2

    async def _release_held(self) -> None:
        """Record what was sent, then give back messages we claimed but did not finish (on
        stop), without an attempt."""
        pending = [message.id for message in self._accepted]
        try:
            await self._record_accepted()
        except Exception:
            log.exception(
                "could not record %s as sent (the relay accepted them; they may be sent again "
                "once their lease ends)",
                ", ".join(f"#{message_id}" for message_id in pending),
            )
        if not self._held:
            return
        held = sorted(self._held)
        self._held.clear()
        marks = ",".join("?" * len(held))
        try:
            async with self.store.write("outbox") as tx:
                await tx.execute(
                    f"""UPDATE outbox SET status = 'queued', lease_owner = NULL, lease_until = NULL
                         WHERE id IN ({marks}) AND lease_owner = ? AND status = 'sending'""",  # noqa: S608
                    (*held, self.owner),
                )
        except Exception:
            log.exception(
                "could not give back %d claimed message(s); they are taken again once their "
                "lease ends",
                len(held),
            )

    # ------------------------------------------------------------ sending

    async def deliver_due(self) -> int:
        """Send everything due, batch after batch over one connection; returns how many were
        handled (sent, retried or failed). The connection is closed when the run ends."""
        handled = 0
        try:
            while not self._stop.is_set():
                _raise_if_cancelled()
                messages = await self.claim()
                if not messages:
                    break
                handled += await self._deliver_batch(messages)
        finally:
            await self._close_connection()
        return handled

    async def _deliver_batch(self, messages: list[OutboxMessage]) -> int:
        handled = 0
        built: tuple[bytes, bool] | Outcome | None = None
        for index, message in enumerate(messages):
            if self._stop.is_set():
                break
            _raise_if_cancelled()
            if time.monotonic() >= self._lease_renew_at:
                await self._renew_leases()
            if message.id not in self._held:
                built = None
                continue
            if built is None:
                built = self._build(message)
            if isinstance(built, Outcome):
                await self._record(message, built)
                handled += 1
                built = None
                continue
            data, utf8 = built
            built = None
            self.write_eml(message.id, data)
            if self._smtp is None:
                problem = await self._connect()
                if problem:
                    rest = [m for m in messages[index:] if m.id in self._held]
                    await self._record_many(rest, problem)
                    return handled + len(rest)
            sending = asyncio.ensure_future(self._send(message, data, utf8))
            try:
                if index + 1 < len(messages):
                    # Build the next message while the server answers this one: the first
                    # command is on its way once the send has run to its first wait.
                    await asyncio.sleep(0)
                    built = self._build(messages[index + 1])
                outcome = await sending
            except BaseException:  # cancelled (or worse): the send stops with us, as before
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sending
                raise
            await self._record(message, outcome)
            handled += 1
        await self._record_accepted()
        await self._release_held()
        return handled

    def _build(self, message: OutboxMessage) -> tuple[bytes, bool] | Outcome:
        """The bytes to send, or the outcome of a message that cannot be built: whatever goes
        wrong with one message (its template, its payload, its address) fails that one only."""
        try:
            return self.message_bytes(message, reveal=True)
        except (TemplateProblem, HeaderInjectionError) as error:
            return Outcome("failed", f"cannot build the message: {error}")
        except Exception as error:
            log.warning("%s #%d cannot be built", self.noun, message.id, exc_info=True)
            return Outcome("failed", f"cannot build the message: {describe_error(error)}")

    def message_bytes(self, message: OutboxMessage, *, reveal: bool) -> tuple[bytes, bool]:
        """The message as sent (or written to a file); `reveal` keeps secrets in the body."""
        return eml_bytes(message, self.settings, reveal=reveal)

    async def _connect(self) -> Outcome | None:
        """Open the connection (TLS, STARTTLS and AUTH as the URL says); a problem → retry, a
        relay without the STARTTLS the URL requires → failed."""
        target = self.target
        assert target is not None
        tls_context = target.tls_context()
        # STARTTLS required (always so with credentials) is done here, step by step, so that a
        # relay that does not offer it never gets the password.
        required = bool(target.starttls)
        smtp = aiosmtplib.SMTP(
            hostname=target.host,
            port=target.port,
            username=None if required else target.username or None,
            password=None if required else target.password or None,
            use_tls=target.implicit_tls,
            start_tls=False if required else target.starttls,
            validate_certs=target.verify,
            tls_context=tls_context,
            timeout=target.timeout,
        )
        try:
            await smtp.connect()
            if required:
                await smtp.ehlo()
                if not smtp.supports_extension("starttls"):
                    smtp.close()
                    what = (
                        "the password would go in clear" if target.needs_tls else "it is required"
                    )
                    return Outcome(
                        "failed",
                        f"{target.describe()} does not offer STARTTLS, so {what}: nothing was "
                        "sent (use smtps://, a relay with STARTTLS, or insecure=1 on a trusted "
                        "network)",
                    )
                await smtp.starttls()
                if target.username:
                    await smtp.login(target.username, target.password)
        except aiosmtplib.SMTPResponseException as error:
            smtp.close()
            return Outcome("retry", f"{target.describe()}: {smtp_reply(error)}")
        except aiosmtplib.SMTPException as error:
            smtp.close()
            return Outcome("retry", f"cannot connect to {target.describe()}: {error}")
        except (OSError, ssl.SSLError, TimeoutError) as error:
            smtp.close()
            return Outcome("retry", f"cannot connect to {target.describe()}: {error}")
        except Exception as error:  # whatever else: these messages wait, the worker lives
            smtp.close()
            log.warning("cannot connect to %s", target.describe(), exc_info=True)
            return Outcome(
                "retry", f"cannot connect to {target.describe()}: {describe_error(error)}"
            )
        self._smtp = smtp
        return None

    async def _send(self, message: OutboxMessage, data: bytes, utf8: bool) -> Outcome:
        smtp = self._smtp
        assert smtp is not None
        try:
            await smtp.sendmail(
                ascii_domain(self.settings.mail_from),
                [ascii_domain(message.recipient)],
                data,
                mail_options=["SMTPUTF8"] if utf8 else None,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            refused = error.recipients[0] if error.recipients else None
            if refused is None:
                return Outcome("retry", "the server refused the recipient")
            if _is_permanent(refused.code):
                return Outcome("failed", smtp_reply(refused), refused=True)
            return Outcome("retry", smtp_reply(refused))
        except aiosmtplib.SMTPResponseException as error:
            if error.code < 0:
                self._drop_connection()
            return Outcome("failed" if _is_permanent(error.code) else "retry", smtp_reply(error))
        except aiosmtplib.SMTPNotSupported as error:
            return Outcome("failed", str(error))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            self._drop_connection()
            return Outcome("retry", f"connection lost: {error}")
        except (HeaderInjectionError, ValueError) as error:
            return Outcome("failed", f"cannot send to {message.recipient!r}: {error}")
        except Exception as error:  # one message's problem, whatever it is, is that message's
            log.warning("%s #%d could not be sent", self.noun, message.id, exc_info=True)
            self._drop_connection()
            return Outcome("failed", f"cannot send the message: {describe_error(error)}")
        return Outcome("sent")

    def _drop_connection(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    async def _close_connection(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            await asyncio.wait_for(smtp.quit(), timeout=5)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            smtp.close()

    # ------------------------------------------------------------ recording outcomes

    async def _record(self, message: OutboxMessage, outcome: Outcome) -> None:
        if outcome.kind != "sent":
            await self._record_many([message], outcome)
            return
        if not self._accepted:
            self._accepted_at = time.monotonic()
        self._accepted.append(message)
        if (
            len(self._accepted) >= self.policy.batch
            or time.monotonic() - self._accepted_at >= self.policy.record_within
        ):
            await self._record_accepted()

    async def _record_accepted(self) -> None:
        """Commit the 250s so far as `sent`, secrets scrubbed, in one transaction."""
        accepted, self._accepted = self._accepted, []
        if not accepted:
            return
        at = db_now()
        ids = [message.id for message in accepted]
        marks = ",".join("?" * len(ids))
        try:
            async with self.store.write("outbox") as tx:
                # By id AND lease: a row erased meanwhile (and its id taken by a new row) is
                # not ours any more, and nothing of this message may land on it.
                mine = await tx.fetchall(
                    f"""SELECT id FROM outbox WHERE id IN ({marks})
                         AND lease_owner = ? AND status = 'sending'""",  # noqa: S608
                    (*ids, self.owner),
                )
                ours = {int(row["id"]) for row in mine}
                await tx.executemany(
                    """UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?,
                                         payload = ?, last_error = '',
                                         lease_owner = NULL, lease_until = NULL
                       WHERE id = ? AND lease_owner = ? AND status = 'sending'""",
                    [
                        (at, scrubbed_payload(message.payload), message.id, self.owner)
                        for message in accepted
                        if message.id in ours
                    ],
                )
                await mark_delivered_for_outboxes(tx, sorted(ours))
        except BaseException:
            self._accepted = accepted + self._accepted  # still held: tried again on release
            raise
        for message in accepted:
            self._held.discard(message.id)
            if message.id in ours:
                log.info("mail #%d (%s) sent", message.id, message.kind)
                self.scrub_eml(message)
            else:
                log.info(
                    "mail #%d (%s) sent, but it was removed meanwhile (erased)",
                    message.id,
                    message.kind,
                )
                self.remove_eml(message.id)

    async def _record_many(self, messages: Iterable[OutboxMessage], outcome: Outcome) -> None:
        """A failed attempt for each message: back to `queued` later, or `failed` for good."""
        rows: list[tuple[str, str, str, int, str]] = []
        for message in messages:
            attempts = message.attempts + 1
            give_up = outcome.kind == "failed" or attempts >= self.policy.max_attempts
            status = "failed" if give_up else "queued"
            next_at = to_db(now() + _seconds(self.policy.backoff(attempts)))
            rows.append((status, next_at, outcome.error[:1000], message.id, self.owner))
            self._held.discard(message.id)
            if give_up:
                log.warning(
                    "%s #%d (%s) failed: %s", self.noun, message.id, message.kind, outcome.error
                )
            else:
                log.info(
                    "%s #%d (%s) to be retried: %s",
                    self.noun,
                    message.id,
                    message.kind,
                    outcome.error,
                )
        if not rows:
            return
        async with self.store.write("outbox") as tx:
            await tx.executemany(
                """UPDATE outbox SET status = ?, attempts = attempts + 1, next_attempt_at = ?,
                                     last_error = ?, lease_owner = NULL, lease_until = NULL
                   WHERE id = ? AND lease_owner = ? AND status = 'sending'""",
                rows,
            )
            if outcome.refused:  # an invitation whose email this was is now `bounced`
                for _, _, error, message_id, _ in rows:
                    await mark_bounced_for_outbox(tx, message_id, reason=error)

    # ------------------------------------------------------------ .eml files

    def write_eml(self, message_id: int, data: bytes, *, replace: bool = True) -> None:
        """`<mail_dir>/<id>.eml`, mode 0600 (see `store.messaging.mail_files`)."""
        if self.mail_dir is not None:
            write_eml(self.mail_dir, message_id, data, replace=replace)

    def scrub_eml(self, message: OutboxMessage) -> None:
        if self.mail_dir is not None:
            scrub_eml(self.settings, message)

    def remove_eml(self, message_id: int) -> None:
        if self.mail_dir is not None:
            remove_emls(self.settings, [message_id])

    async def write_kept_files(self) -> None:
        """Write the `.eml` of every kept message not written yet (ids only grow); a message
        that cannot be read or rendered is skipped (and logged), never the others."""
        while True:
            rows = await self.store.engine.fetchall(
                "SELECT * FROM outbox WHERE status = 'kept' AND id > ? ORDER BY id LIMIT 200",
                (self._kept_seen,),
            )
            if not rows:
                return
            self._kept_seen = max(self._kept_seen, *(int(row["id"]) for row in rows))
            messages, problems = _read_rows(rows)
            for message_id, error in problems.items():
                log.warning("kept mail #%d cannot be written: %s", message_id, error)
            for message in messages:
                try:
                    data, _ = self.message_bytes(message, reveal=True)
                except Exception as error:
                    log.warning(
                        "kept mail #%d cannot be written: %s", message.id, describe_error(error)
                    )
                    continue
                self.write_eml(message.id, data, replace=False)


def describe_error(error: BaseException) -> str:
    """`UnicodeEncodeError: 'ascii' codec can't …`: the error's type and its message, one line."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _read_rows(rows: Iterable[Row]) -> tuple[list[OutboxMessage], dict[int, str]]:
    """The rows as messages, and the ids of those that cannot be read (with the reason)."""
    messages: list[OutboxMessage] = []
    problems: dict[int, str] = {}
    for row in rows:
        try:
            messages.append(from_row(row, OutboxMessage))
        except Exception as error:
            problems[int(row["id"])] = f"cannot read the message: {describe_error(error)}"
    return messages, problems


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
