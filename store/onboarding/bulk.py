"""Bulk account creation ("Advanced"): preview a pasted batch against the database, then create
every valid line — hashing first, writing once.

The three password modes cost very different amounts of CPU, so each spends it only where it
protects something:

- `same` ("one for all"): policy-checked, hashed with argon2id ONCE; the hash serves the batch.
  Like a one-time credential it expires after 7 days and must be changed at first sign-in.
- `random` ("random for each"): one-time credentials (130 bits from `secrets`, SHA-256 under the
  `otc$` scheme, 7 days, changed at first sign-in), shown once to the admin and never emailed.
  10,000 take well under a second.
- `given` (on each line): people's chosen passwords, each hashed with argon2id in worker threads
  (the Hasher's semaphore caps how many run at once), a chunk at a time.

Nothing is written before every credential is ready: a crash, a kill or a cancel during hashing
leaves no account behind. Then accounts, set-password tokens, emails and one audit entry commit
in one transaction (`store.onboarding.accounts_create`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from store.accounts.acting import require
from store.domain import clock
from store.domain.addresses import address_key
from store.domain.csv_safe import write_csv
from store.domain.languages import checked_language
from store.domain.passwords import password_problem
from store.domain.records import Level
from store.domain.refusal import Refused
from store.domain.vocabulary import AuditAction
from store.onboarding.accounts_create import (
    ONE_TIME_CREDENTIAL_LIFETIME,
    AccountOptions,
    InsertOutcome,
    NewAccount,
    StoredCredential,
    create_accounts,
    hashed_credential,
    one_time_credential,
)
from store.onboarding.bulk_lines import (
    EXISTS,
    BulkLine,
    ParsedLines,
    PasswordMode,
    mark_existing,
    parse_bulk_lines,
    valid_addresses,
)

if TYPE_CHECKING:
    from store.database.core import Store

RANDOM_CHUNK = 1000
PROGRESS_EVERY = 0.05
"""Seconds between progress reports (the first and the last are always sent)."""
AUDIT_ACTION: AuditAction = "users_imported"
IN_THREAD_FROM = 500
"""From this many lines on, pure-CPU steps run in a worker thread (no loop stall > a few ms)."""


class BulkError(Refused):
    """The batch cannot be created as asked; the message says why, for people."""


class BulkCancelled(Exception):
    """The admin cancelled before the write: nothing was written."""


class BulkOptions(msgspec.Struct, frozen=True, kw_only=True):
    level: Level = "member"
    passwords: PasswordMode = "random"
    shared_password: str | None = None
    """The "one for all" password (mode `same` only)."""
    must_change_password: bool = True
    """Asked for "given" passwords; "one for all" and random ones must always be changed."""
    notify: bool = True
    language: str | None = None
    """Stored with every account of the batch (a shipped code; None: none chosen)."""

    @property
    def must_change(self) -> bool:
        return self.must_change_password or self.passwords != "given"


Phase = Literal["hashing", "writing", "done"]


class Progress(msgspec.Struct, frozen=True, gc=False):
    phase: Phase
    done: int
    total: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Credentials per second so far (0 before the first)."""
        return self.done / self.elapsed if self.elapsed > 0 and self.done else 0.0

    @property
    def seconds_left(self) -> float | None:
        """Estimated time to finish hashing; None until there is a rate to go by."""
        if self.done >= self.total:
            return 0.0
        rate = self.rate
        return (self.total - self.done) / rate if rate else None


ProgressCallback = Callable[[Progress], None]
Cancelled = Callable[[], bool]
"""Whether the admin asked to stop; read from hashing threads too, so it must only read a flag."""


class CreatedAccount(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    line: int
    user_id: int
    email: str
    first_name: str
    last_name: str


class IssuedCredential(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A random first password: shown to the admin once, never stored in clear, never emailed."""

    line: int
    email: str
    first_name: str
    last_name: str
    credential: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"IssuedCredential(line={self.line}, email={self.email!r}, credential=***)"


class BulkResult(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    batch_id: str
    level: Level
    passwords: PasswordMode
    total: int
    """Input lines considered (blank lines and the header excluded)."""
    created: tuple[CreatedAccount, ...]
    skipped: tuple[BulkLine, ...]
    """Every line not created, with its reasons, in line order."""
    credentials: tuple[IssuedCredential, ...] = ()
    emails_queued: int = 0

    @property
    def summary(self) -> str:
        return f"{len(self.created):,} of {self.total:,} created"


# ------------------------------------------------------------------ preview


def shared_password_problem(
    password: str | None, *, org: str = "", estimate_strength: bool = True
) -> str | None:
    """Why the "one for all" password is refused, or None (`org`: the organisation's name).
    `estimate_strength=False`: the cheap checks only (see `password_problem`)."""
    if not password:
        return "Type the password all these accounts will start with."
    return password_problem(password, org=org, estimate_strength=estimate_strength)


async def check_existing(store: Store, parsed: ParsedLines) -> ParsedLines:
    """`parsed` with "already exists" on every line whose address has an account (one query)."""
    addresses = valid_addresses(parsed)
    if not addresses:
        return parsed
    rows = await store.engine.fetchall(
        "SELECT email_key FROM users WHERE email_key IN (SELECT value FROM json_each(?))",
        (msgspec.json.encode([address_key(address) for address in addresses]).decode(),),
    )
    existing = {str(row["email_key"]) for row in rows}
    if len(parsed.lines) >= IN_THREAD_FROM:
        return await asyncio.to_thread(mark_existing, parsed, existing)
    return mark_existing(parsed, existing)


async def preview(store: Store, text: str, mode: PasswordMode) -> ParsedLines:
    """Parse `text` in a worker thread, then mark the accounts that already exist."""
    parsed = await asyncio.to_thread(parse_bulk_lines, text, mode, org=store.settings.org)
    return await check_existing(store, parsed)


# ------------------------------------------------------------------ create


class _Reporter:
    """Sends progress at most every PROGRESS_EVERY seconds (plus the first and the last)."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self._callback = callback
        self.total = total
        self.done = 0
        self._start = time.monotonic()
        self._last = 0.0

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self.done >= self.total or now - self._last >= PROGRESS_EVERY:
            self._last = now
            self.send("hashing")

    def send(self, phase: Phase) -> None:
        if self._callback is not None:
            elapsed = time.monotonic() - self._start
            self._callback(Progress(phase, self.done, self.total, elapsed))


def _check(cancelled: Cancelled | None) -> None:
    if cancelled is not None and cancelled():
        raise BulkCancelled("cancelled before anything was written")


def _random_chunk(count: int, now: datetime) -> tuple[list[StoredCredential], list[str]]:
    stored: list[StoredCredential] = []
    shown: list[str] = []
    for _ in range(count):
        raw, credential = one_time_credential(now)
        shown.append(raw)
        stored.append(credential)
    return stored, shown


async def _random_credentials(
    lines: Sequence[BulkLine], reporter: _Reporter, cancelled: Cancelled | None
) -> tuple[list[StoredCredential], list[str]]:
    """One-time credentials, made a chunk at a time in a worker thread (the loop stays free;
    a cancel is noticed between chunks)."""
    now = clock.now()
    stored: list[StoredCredential] = []
    shown: list[str] = []
    for start in range(0, len(lines), RANDOM_CHUNK):
        _check(cancelled)
        count = min(RANDOM_CHUNK, len(lines) - start)
        chunk_stored, chunk_shown = await asyncio.to_thread(_random_chunk, count, now)
        stored += chunk_stored
        shown += chunk_shown
        reporter.advance(count)
    return stored, shown


async def _given_credentials(
    store: Store, lines: Sequence[BulkLine], reporter: _Reporter, cancelled: Cancelled | None
) -> list[StoredCredential]:
    """argon2id for each given password on the Hasher's batch threads, which take the next
    line themselves (every core busy to the last hash, no hash handed out by the event loop).
    A cancel stops every thread before its next hash (they read `cancelled()`, a flag);
    hashes still running finish in their threads and are thrown away."""
    _check(cancelled)
    hashes = await store.hasher.hash_all(
        [line.password or "" for line in lines], progress=reporter.advance, should_stop=cancelled
    )
    _check(cancelled)
    if any(hashed is None for hashed in hashes):
        raise BulkCancelled("cancelled before anything was written")
    return [StoredCredential(hashed) for hashed in hashes if hashed is not None]


async def _credentials(
    store: Store,
    lines: Sequence[BulkLine],
    options: BulkOptions,
    reporter: _Reporter,
    cancelled: Cancelled | None,
) -> tuple[list[StoredCredential], list[str]]:
    if options.passwords == "random":
        return await _random_credentials(lines, reporter, cancelled)
    if options.passwords == "given":
        return await _given_credentials(store, lines, reporter, cancelled), []
    assert options.shared_password is not None
    _check(cancelled)
    shared = await hashed_credential(
        store.hasher, options.shared_password, expires_after=ONE_TIME_CREDENTIAL_LIFETIME
    )
    reporter.advance(len(lines))
    return [shared] * len(lines), []


def _batch_details(
    batch_id: str, options: BulkOptions, parsed: ParsedLines, outcome: InsertOutcome
) -> dict[str, Any]:
    existed = len(outcome.existing) + sum(1 for line in parsed.lines if line.has("exists"))
    return {
        "batch_id": batch_id,
        "level": options.level,
        "passwords": options.passwords,
        "must_change_password": options.must_change,
        "notify": options.notify,
        "language": options.language,
        "lines": parsed.total,
        "created": len(outcome.created),
        "already_existed": existed,
        "invalid": sum(1 for line in parsed.problems if not line.has("exists")),
        "emails_queued": outcome.emails_queued,
    }


async def create_batch(
    store: Store,
    parsed: ParsedLines,
    options: BulkOptions,
    *,
    actor: str,
    on_progress: ProgressCallback | None = None,
    cancelled: Cancelled | None = None,
) -> BulkResult:
    """Create an account for every valid line of `parsed` (parsed for `options.passwords`).

    Lines with problems and addresses that already have an account are skipped and reported.
    Credentials are made first (`on_progress` hears how far); `cancelled()` is asked between
    steps and stops everything before the write (BulkCancelled). Then one transaction writes
    the accounts, their set-password links and emails (when `options.notify`) and one audit
    entry; an address taken meanwhile is reported as already existing.
    """
    require("bulk")
    try:
        language = checked_language(options.language)
    except ValueError as error:
        raise BulkError(str(error)) from None
    if parsed.mode != options.passwords:
        raise BulkError(
            f"the lines were checked for passwords {parsed.mode!r}, not {options.passwords!r}"
        )
    if options.passwords == "same":
        problem = await asyncio.to_thread(
            shared_password_problem, options.shared_password, org=store.settings.org
        )
        if problem:
            raise BulkError(f"the password for all: {problem}")
    parsed = await check_existing(store, parsed)
    ready = parsed.ready
    batch_id = secrets.token_hex(6)
    reporter = _Reporter(on_progress, len(ready))
    if not ready:
        reporter.send("done")
        return BulkResult(
            batch_id=batch_id,
            level=options.level,
            passwords=options.passwords,
            total=parsed.total,
            created=(),
            skipped=tuple(parsed.problems),
        )
    reporter.send("hashing")
    stored, shown = await _credentials(store, ready, options, reporter, cancelled)
    _check(cancelled)
    reporter.send("writing")
    if len(ready) >= IN_THREAD_FROM:
        accounts = await asyncio.to_thread(_new_accounts, ready, stored)
    else:
        accounts = _new_accounts(ready, stored)
    account_options = AccountOptions(
        level=options.level,
        source="bulk",
        must_change_password=options.must_change,
        notify=options.notify,
        batch_id=batch_id,
        language=language,
    )

    def describe(outcome: InsertOutcome) -> tuple[str, dict[str, Any]]:
        subject = f"{len(outcome.created):,} of {parsed.total:,} accounts"
        return subject, _batch_details(batch_id, options, parsed, outcome)

    outcome = await create_accounts(
        store, accounts, account_options, actor=actor, action=AUDIT_ACTION, describe=describe
    )
    reporter.send("done")
    if len(ready) >= IN_THREAD_FROM:
        return await asyncio.to_thread(_result, batch_id, options, parsed, ready, outcome, shown)
    return _result(batch_id, options, parsed, ready, outcome, shown)


def _new_accounts(
    ready: Sequence[BulkLine], stored: Sequence[StoredCredential]
) -> list[NewAccount]:
    return [
        NewAccount(
            email=line.email,
            first_name=line.first_name,
            last_name=line.last_name,
            credential=credential,
            ref=line.line,
        )
        for line, credential in zip(ready, stored, strict=True)
    ]


def _result(
    batch_id: str,
    options: BulkOptions,
    parsed: ParsedLines,
    ready: Sequence[BulkLine],
    outcome: InsertOutcome,
    shown: Sequence[str],
) -> BulkResult:
    by_line = {line.line: line for line in ready}
    raced = {account.ref for account in outcome.existing}
    skipped = list(parsed.problems)
    skipped += [
        msgspec.structs.replace(by_line[ref], problems=(*by_line[ref].problems, EXISTS))
        for ref in raced
    ]
    skipped.sort(key=lambda line: line.line)
    credentials: list[IssuedCredential] = []
    if shown:
        secret_by_line = {line.line: raw for line, raw in zip(ready, shown, strict=True)}
        for created in outcome.created:
            account = created.account
            expires = account.credential.expires_at
            credentials.append(
                IssuedCredential(
                    line=account.ref,
                    email=account.email,
                    first_name=account.first_name,
                    last_name=account.last_name,
                    credential=secret_by_line[account.ref],
                    expires_at=clock.from_db(expires) if expires else clock.now(),
                )
            )
    return BulkResult(
        batch_id=batch_id,
        level=options.level,
        passwords=options.passwords,
        total=parsed.total,
        created=tuple(
            CreatedAccount(
                line=item.account.ref,
                user_id=item.user_id,
                email=item.account.email,
                first_name=item.account.first_name,
                last_name=item.account.last_name,
            )
            for item in outcome.created
        ),
        skipped=tuple(skipped),
        credentials=tuple(credentials),
        emails_queued=outcome.emails_queued,
    )


# ------------------------------------------------------------------ reports


def error_entries(lines: Iterable[BulkLine]) -> list[dict[str, Any]]:
    """The `errors` of `usher users import --json`: line, input (passwords masked), error."""
    return [{"line": line.line, "input": line.input, "error": line.error} for line in lines]


def write_problem_report(path: str | os.PathLike[str], lines: Iterable[BulkLine]) -> int:
    """Skipped lines and their reasons as a private CSV (formula injection neutralised)."""
    rows = ((line.line, line.input, line.email, line.error) for line in lines)
    return write_csv(path, ("line", "input", "email", "problem"), rows)


def write_credentials(path: str | os.PathLike[str], credentials: Iterable[IssuedCredential]) -> int:
    """The one-time passwords as a CSV created with mode 0600 (the only copy there is)."""
    rows = (
        (
            item.line,
            item.email,
            item.first_name,
            item.last_name,
            item.credential,
            clock.to_db(item.expires_at),
        )
        for item in credentials
    )
    header = ("line", "email", "first_name", "last_name", "one_time_password", "expires_at")
    return write_csv(path, header, rows)
