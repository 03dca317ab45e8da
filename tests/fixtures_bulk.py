"""Fixtures and helpers for the bulk-creation tests: a store with a cheap hasher (argon2 at
t=1, 8 KiB — the mode is not the point there), and generated lines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import jinja2
import pytest

from store import Settings, Store
from store.passwords import Hasher

TEMPLATES = Path(__file__).resolve().parent.parent / "store" / "emails" / "templates"


def cheap_hasher() -> Hasher:
    return Hasher(time_cost=1, memory_kib=8)


@pytest.fixture(name="cheap_store")
async def cheap_store_fixture(settings: Settings) -> AsyncIterator[Store]:
    """Import `cheap_store_fixture` into a test module to get the `cheap_store` fixture."""
    opened = await Store.open(settings, hasher=cheap_hasher())
    try:
        yield opened
    finally:
        await opened.close()


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
    """Our templates, with a minimal layout when the shared one (issue 3) is not here yet."""
    fallback = jinja2.DictLoader(
        {
            "_layout.txt": "{% block body %}{% endblock %}\n-- \n{{ org }}",
            "_layout.html": "<html><body>{% block body %}{% endblock %}</body></html>",
        }
    )
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(TEMPLATES), fallback]),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
