"""`usher users export`: every account (or those with one status) as CSV or JSON, for the
organisation's other systems and for people with a spreadsheet.

The CSV is the console's export (same columns, `store.csv_export`'s formula neutralising, a new
0600 file); JSON keeps values as they are (`--json` shape of `usher users list`), since no
spreadsheet runs it. A file is never overwritten.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Literal

from .csv_export import ExportError, csv_text, write_csv
from .engine import Engine
from .records import UserStatus
from .users import EXPORT_COLUMNS, UserQuery, list_users, user_to_json

Format = Literal["csv", "json"]
FORMATS: tuple[Format, ...] = ("csv", "json")

__all__ = ["FORMATS", "ExportError", "Format", "export_text", "export_to_file"]


async def _rows(engine: Engine, status: UserStatus | None) -> list[dict[str, object]]:
    users = await list_users(engine, UserQuery(status=status, sort="oldest"))
    return [user_to_json(user) for user in users]


def _json(rows: list[dict[str, object]]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"


def _csv(rows: list[dict[str, object]]) -> str:
    return csv_text(EXPORT_COLUMNS, [[row[column] for column in EXPORT_COLUMNS] for row in rows])


async def export_text(engine: Engine, *, status: UserStatus | None, fmt: Format) -> tuple[int, str]:
    """(how many users, the whole export as text) — for standard output."""
    rows = await _rows(engine, status)
    return len(rows), _json(rows) if fmt == "json" else _csv(rows)


def _write_private(path: str | os.PathLike[str], text: str) -> None:
    """A new file, mode 0600 from the start; refuses an existing one."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise ExportError(f"{str(target)!r} is a folder: give a file name")
    if not target.parent.exists():
        raise ExportError(f"folder {str(target.parent)!r} does not exist")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ExportError(f"{str(target)!r} already exists: choose another name") from None
    except OSError as error:
        raise ExportError(f"cannot write {str(target)!r}: {error.strerror or error}") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


async def export_to_file(
    engine: Engine, path: str | os.PathLike[str], *, status: UserStatus | None, fmt: Format
) -> int:
    """Write the export to a new 0600 file `path`; returns how many users."""
    rows = await _rows(engine, status)
    if fmt == "csv":
        header = EXPORT_COLUMNS
        cells = [[row[column] for column in header] for row in rows]
        return await asyncio.to_thread(write_csv, path, header, cells)
    await asyncio.to_thread(_write_private, path, _json(rows))
    return len(rows)
