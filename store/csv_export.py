"""CSV files for people to open in a spreadsheet: cells that a spreadsheet would run as a formula
are neutralised, and the file is private (mode 0600) because it holds people's details.

Reused by every export (users, problem reports, generated passwords).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")
"""OWASP's list: a cell starting with one of these may be run as a formula (CSV injection)."""


class ExportError(Exception):
    """The file cannot be written; the message says why, for people."""


def neutralise(value: Any) -> str:
    """The cell as text, with `'` in front when a spreadsheet would treat it as a formula.

    None becomes an empty cell. Numbers are written as they are (a negative number would be a
    harmless formula, but we only export counts and ids, which are never negative).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The whole CSV as one string (for small exports and tests)."""
    buffer = io.StringIO()
    _write(buffer, header, rows)
    return buffer.getvalue()


def write_csv(
    path: str | os.PathLike[str],
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    overwrite: bool = False,
) -> int:
    """Write `rows` under `header` to a new file with mode 0600; return the number of rows.

    Blocking file I/O: call it from a thread (`asyncio.to_thread`). Refuses an existing file
    unless `overwrite`; an overwritten file is made private too.
    """
    target = Path(path).expanduser()
    if target.is_dir():
        raise ExportError(f"{str(target)!r} is a folder: give a file name")
    if not target.parent.exists():
        raise ExportError(f"folder {str(target.parent)!r} does not exist")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise ExportError(f"{str(target)!r} already exists: choose another name") from None
    except OSError as error:
        raise ExportError(f"cannot write {str(target)!r}: {error.strerror or error}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            fd = -1
            return _write(handle, header, rows)
    finally:
        if fd != -1:
            os.close(fd)


def _write(handle: Any, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in header])
    count = 0
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
        count += 1
    return count
