"""Shared fixtures: a real SQLite file per test, settings that point at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from store import Settings, Store, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh database file, with a rate limit high enough for tests."""
    return load_settings(
        {"db": str(tmp_path / "usher.db"), "port": 0, "rate_limit": 10_000}, environ={}
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    opened = await Store.open(settings)
    try:
        yield opened
    finally:
        await opened.close()
