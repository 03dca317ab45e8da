"""The audit log: who did what, when. Console actions name the OS user (and SSH client);
web actions name the client IP."""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from typing import Any

import msgspec

from store.accounts import acting
from store.database.engine import Transaction
from store.domain.clock import db_now
from store.domain.text import clean_line
from store.domain.vocabulary import AuditAction


def console_actor(environ: Mapping[str, str] | None = None) -> str:
    """`alice` or `alice (ssh 10.0.0.7)`: the person behind the service account, if known.

    In a console served over SSH, the registered admin: `alice (key SHA256:…, ssh 10.0.0.7)`.

    `SUDO_USER` first (the admin behind `sudo -u usher`), then `USER`/`LOGNAME`, then the
    account the process runs as (cron, systemd and `env -i` leave those variables unset)."""
    admin = acting.current()
    if admin is not None:  # a console served over SSH: the registered admin, key and peer
        return admin.label
    env = os.environ if environ is None else environ
    name = env.get("SUDO_USER") or env.get("USER") or env.get("LOGNAME") or os_account()
    ssh = env.get("SSH_CONNECTION", "").split()
    actor = clean_line(name)
    if ssh:
        actor += f" (ssh {clean_line(ssh[0])})"
    return actor


def os_account() -> str:
    """The name of the account this process runs as, or `unknown` when it has none."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid with no passwd entry (some containers)
        return "unknown"


def web_actor(client_ip: str) -> str:
    return f"web {clean_line(client_ip) or 'unknown'}"


async def record(
    tx: Transaction,
    actor: str,
    action: AuditAction,
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
