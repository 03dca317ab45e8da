"""How onboarding is going, for Home: signups per day, and per link and per invitation batch how
many were invited → joined → active. Read-only, bounded reads (the last days, the newest few
sources), so the dashboard can ask after every commit."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import msgspec

from store.database.engine import Engine
from store.domain.clock import from_db, now, to_db

__all__ = ["SIGNUP_DAYS", "Funnel", "funnels", "signups_per_day"]

SIGNUP_DAYS = 14
"""Days the signup sparkline covers (today included)."""


class Funnel(msgspec.Struct, frozen=True, kw_only=True):
    """One way in and how far its people got. `invited` is None for a link (anyone with it
    may join: there is no count of people invited)."""

    kind: str
    """`link` or `invitations`."""
    label: str
    invited: int | None
    joined: int
    active: int
    started_at: datetime


def _local_midnight(day: date) -> str:
    """The instant `day` starts here, in the database's form (stored times sort as text)."""
    return to_db(datetime.combine(day, datetime.min.time()).astimezone())


async def signups_per_day(
    engine: Engine, days: int = SIGNUP_DAYS, today: date | None = None
) -> list[int]:
    """Accounts created on each of the last `days` local days, oldest first, today last (every
    way in counts: links, invitations, single and bulk).

    Counted in SQL (SQLite's `localtime` is this process's zone, as Python's): the dashboard asks
    after every commit, and reading each row into Python took ~100 ms with 10,000 recent
    sign-ups.
    """
    today = today or now().astimezone().date()
    first = today - timedelta(days=days - 1)
    counts = [0] * days
    rows = await engine.fetchall(
        """SELECT date(created_at, 'localtime') AS day, count(*) AS n FROM users
           WHERE created_at >= ? GROUP BY day""",
        (_local_midnight(first),),
    )
    for row in rows:
        index = (date.fromisoformat(str(row["day"])) - first).days
        if 0 <= index < days:
            counts[index] += int(row["n"])
    return counts


async def funnels(engine: Engine, limit: int = 3) -> list[Funnel]:
    """The newest `limit` links and invitation batches (one send is one batch), newest first."""
    links = await engine.fetchall(
        """SELECT l.id, l.label, l.created_at,
                  count(u.id) AS joined, coalesce(sum(u.status = 'active'), 0) AS active
           FROM invite_links AS l LEFT JOIN users AS u ON u.link_id = l.id
           GROUP BY l.id ORDER BY l.created_at DESC, l.id DESC LIMIT ?""",
        (limit,),
    )
    batches = await engine.fetchall(
        """SELECT i.created_at, i.created_by, count(DISTINCT i.id) AS invited,
                  count(u.id) AS joined, coalesce(sum(u.status = 'active'), 0) AS active
           FROM invitations AS i LEFT JOIN users AS u ON u.invitation_id = i.id
           WHERE i.created_at IN (SELECT DISTINCT created_at FROM invitations
                                  ORDER BY created_at DESC LIMIT ?)
           GROUP BY i.created_at, i.created_by""",
        (limit,),
    )
    found = [
        Funnel(
            kind="link",
            label=str(row["label"]) or f"link #{row['id']}",
            invited=None,
            joined=int(row["joined"]),
            active=int(row["active"]),
            started_at=from_db(str(row["created_at"])),
        )
        for row in links
    ]
    for row in batches:
        started = from_db(str(row["created_at"]))
        found.append(
            Funnel(
                kind="invitations",
                label=f"invitations of {started.astimezone():%d %b %H:%M}",
                invited=int(row["invited"]),
                joined=int(row["joined"]),
                active=int(row["active"]),
                started_at=started,
            )
        )
    found.sort(key=lambda funnel: funnel.started_at, reverse=True)
    return found[:limit]
