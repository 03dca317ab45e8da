"""`usher users export`: every account (or those with one status) as CSV or JSON, for the
organisation's other systems and for people with a spreadsheet.

The CSV is the console's export (same columns, `store.domain.csv_safe`'s formula neutralising, a new
0600 file); JSON keeps values as they are (`--json` shape of `usher users list`), since no
spreadsheet runs it. A file is never overwritten.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Literal

from store.accounts.users import EXPORT_COLUMNS, UserQuery, export_cells, list_users, user_to_json
from store.database.engine import Engine
from store.domain.csv_safe import ExportError, csv_text, write_csv, write_private
from store.domain.records import UserStatus

Format = Literal["csv", "json"]
FORMATS: tuple[Format, ...] = ("csv", "json")

__all__ = ["FORMATS", "ExportError", "Format", "export_text", "export_to_file"]


async def _rows(engine: Engine, status: UserStatus | None) -> list[dict[str, object]]:
    users = await list_users(engine, UserQuery(status=status, sort="oldest"))
    return [user_to_json(user) for user in users]


def _json(rows: list[dict[str, object]]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"


def _csv(rows: list[dict[str, object]]) -> str:
    return csv_text(EXPORT_COLUMNS, export_cells(rows))


async def export_text(engine: Engine, *, status: UserStatus | None, fmt: Format) -> tuple[int, str]:
    """(how many users, the whole export as text) — for standard output."""
    rows = await _rows(engine, status)
    return len(rows), _json(rows) if fmt == "json" else _csv(rows)


async def export_to_file(
    engine: Engine, path: str | os.PathLike[str], *, status: UserStatus | None, fmt: Format
) -> int:
    """Write the export to a new 0600 file `path`; returns how many users."""
    rows = await _rows(engine, status)
    if fmt == "csv":
        return await asyncio.to_thread(write_csv, path, EXPORT_COLUMNS, export_cells(rows))
    await asyncio.to_thread(write_private, path, _json(rows))
    return len(rows)
