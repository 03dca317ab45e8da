"""Read-only queries shared by the dashboard, the header badges and the CLI."""

from __future__ import annotations

from store.database.engine import Engine
from store.domain.clock import db_now, from_db
from store.domain.records import AuditEntry, Counts, from_rows
from store.domain.text import like_pattern


async def counts(engine: Engine) -> Counts:
    now = db_now()
    users = {
        str(row["status"]): int(row["n"])
        for row in await engine.fetchall("SELECT status, count(*) AS n FROM users GROUP BY status")
    }
    outbox = {
        str(row["status"]): int(row["n"])
        for row in await engine.fetchall("SELECT status, count(*) AS n FROM outbox GROUP BY status")
    }
    links = await engine.fetchone(
        """SELECT
             sum(revoked_at IS NULL AND (expires_at IS NULL OR expires_at > :now)
                 AND (max_uses IS NULL OR uses < max_uses)) AS active,
             count(*) AS total
           FROM invite_links""",
        {"now": now},
    )
    invitations = await engine.fetchone(
        """SELECT sum(status = 'pending' AND expires_at > :now) AS pending,
                  sum(status = 'bounced') AS bounced
           FROM invitations""",
        {"now": now},
    )
    last = await engine.fetchone(
        "SELECT email, created_at FROM users WHERE source = 'link' ORDER BY created_at DESC LIMIT 1"
    )
    active_links = int((links["active"] if links else 0) or 0)
    return Counts(
        users_by_status=users,
        links_active=active_links,
        links_inactive=int((links["total"] if links else 0) or 0) - active_links,
        invitations_pending=int((invitations["pending"] if invitations else 0) or 0),
        invitations_bounced=int((invitations["bounced"] if invitations else 0) or 0),
        outbox_by_status=outbox,
        last_signup_at=from_db(last["created_at"]) if last else None,
        last_signup_email=str(last["email"]) if last else None,
    )


async def recent_audit(engine: Engine, limit: int) -> list[AuditEntry]:
    rows = await engine.fetchall("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
    return from_rows(rows, AuditEntry)


async def audit_entries(engine: Engine, term: str, limit: int) -> list[AuditEntry]:
    """Newest first; `term` matches actor, action or subject (case-insensitive substring)."""
    if not term:
        return await recent_audit(engine, limit)
    like = like_pattern(term)
    rows = await engine.fetchall(
        """SELECT * FROM audit
           WHERE actor LIKE :like ESCAPE '\\' OR action LIKE :like ESCAPE '\\'
              OR subject LIKE :like ESCAPE '\\'
           ORDER BY id DESC LIMIT :limit""",
        {"like": like, "limit": limit},
    )
    return from_rows(rows, AuditEntry)
