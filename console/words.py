"""Counted nouns in messages: "1 email", "2 emails" ("{n} emails" reads wrong at 1)."""

from __future__ import annotations


def counted(number: int, one: str, many: str | None = None) -> str:
    """`number` (with thousands separators) and the noun that agrees with it."""
    noun = one if number == 1 else (many if many is not None else one + "s")
    return f"{number:,} {noun}"
