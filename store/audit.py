"""The audit log: who did what, when. Console actions name the OS user (and SSH client);
web actions name the client IP."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import msgspec

from .clock import db_now
from .engine import Transaction
from .text import clean_line


def console_actor(environ: Mapping[str, str] | None = None) -> str:
    """`alice` or `alice (ssh 10.0.0.7)`: the person behind the service account, if known."""
    env = os.environ if environ is None else environ
    name = env.get("SUDO_USER") or env.get("USER") or env.get("LOGNAME") or "unknown"
    ssh = env.get("SSH_CONNECTION", "").split()
    actor = clean_line(name)
    if ssh:
        actor += f" (ssh {clean_line(ssh[0])})"
    return actor


def web_actor(client_ip: str) -> str:
    return f"web {clean_line(client_ip) or 'unknown'}"


async def record(
    tx: Transaction,
    actor: str,
    action: str,
    subject: str = "",
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one audit entry inside the caller's transaction (it commits with the change).

    Deferred (`tx.defer`): it runs with the transaction's next statement or its commit, so it
    costs no round trip of its own."""
    tx.defer(
        "INSERT INTO audit (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)",
        (db_now(), actor, action, subject, msgspec.json.encode(dict(details or {})).decode()),
    )
    tx.touch("audit")
