"""The level radio buttons, in one order on every screen: `store.database.migrations.LEVELS` (most
rights first, as the level dialog and the Users filter list them), with member chosen by default."""

from __future__ import annotations

from store.domain.vocabulary import LEVELS

from .toggles import Choice

DEFAULT_LEVEL = "member"


def level_choices(
    *, default: str = DEFAULT_LEVEL, id_prefix: str = "", compact: bool = False
) -> list[Choice]:
    """One `Choice` per level, named after it (and given the id `id_prefix + level` if asked)."""
    return [
        Choice(
            level.capitalize(),
            value=level == default,
            name=level,
            id=f"{id_prefix}{level}" if id_prefix else None,
            compact=compact,
        )
        for level in LEVELS
    ]
