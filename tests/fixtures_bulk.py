"""Helpers for the bulk-creation tests: generated lines and the email templates. The store with
a cheap hasher is conftest's `fast_store` (argon2 at t=1, 8 KiB: the mode is not the point)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from store.messaging.emails.render import environment

TEMPLATES = Path(__file__).resolve().parent.parent / "store" / "messaging" / "emails" / "templates"


def password_for(i: int) -> str:
    return f"pass phrase number {i}"


def people(count: int, *, passwords: bool = False, start: int = 0, domain: str = "acme.org") -> str:
    """`First{i} Last{i},user{i}@domain[,password]` lines."""
    rows = []
    for i in range(start, start + count):
        row = f"First{i} Last{i},user{i}@{domain}"
        if passwords:
            row += f",{password_for(i)}"
        rows.append(row)
    return "\n".join(rows)


def email_environment() -> jinja2.Environment:
    """The emails' own environment (with gettext: English when the context names no language)."""
    return environment()
