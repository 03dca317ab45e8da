"""UTC time, and the one text form times take in the database (sortable, so SQL can compare)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

DB_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_offset = timedelta(0)


def now() -> datetime:
    """The current UTC time, as moved by `moved_clock` (only tests move it)."""
    return datetime.now(UTC) + _offset


@contextlib.contextmanager
def moved_clock(by: timedelta) -> Iterator[None]:
    """Move Usher's clock forward by `by` inside the block, so tests can see what time does
    (expiry, throttles, limits) without waiting. Moves nest and add up."""
    global _offset
    before = _offset
    _offset = before + by
    try:
        yield
    finally:
        _offset = before


def to_db(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    if utc.year >= 1000:  # isoformat gives the same text, without strftime's cost
        return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return utc.strftime(DB_FORMAT)


def from_db(text: str) -> datetime:
    if len(text) == 27 and text[10] == "T" and text[19] == "." and text[26] == "Z":
        # Our own form: fromisoformat reads it to the same value ~100x faster than strptime.
        return datetime.fromisoformat(text)
    return datetime.strptime(text, DB_FORMAT).replace(tzinfo=UTC)


def db_now(offset: timedelta = timedelta(0)) -> str:
    """Now (plus `offset`) in the database's form."""
    return to_db(now() + offset)


def ago(moment: datetime, reference: datetime | None = None) -> str:
    """A short relative time for people: `just now`, `4 min ago`, `3 h ago`, `2 days ago`."""
    seconds = int(((reference or now()) - moment).total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    days = seconds // 86400
    return f"{days} day{'s' if days != 1 else ''} ago"


def wait_words(seconds: int) -> str:
    """`40 seconds`, `1 minute`, `15 minutes`: a wait of `seconds`, rounded up, for a page that
    must say what `Retry-After: seconds` says."""
    seconds = max(1, seconds)
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = (seconds + 59) // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def lifetime_words(span: timedelta) -> str:
    """`72 hours`, `7 days`, `14 days`: how long something works, for help texts and messages
    that must say what the store's constant says."""
    hours = int(span.total_seconds() // 3600)
    if hours % 24 or hours <= 72:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    days = hours // 24
    return f"{days} day{'s' if days != 1 else ''}"
