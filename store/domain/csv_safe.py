"""Files people open in a spreadsheet or hand to other systems: a CSV cell the spreadsheet would
run as a formula is neutralised (OWASP's CSV-injection advice), and files are created private
(mode 0600) because they hold people's details — or, for one-time passwords, their credentials.

The one place for this, so every export (users in the console and `usher users export`, bulk
problem reports, generated passwords) gets the same guard and the same private file.
Blocking file I/O: call `write_csv` / `write_private` from a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from store.domain.refusal import Refused

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")
"""A cell starting with one of these may be taken as a formula: it gets a `'` in front."""


def export_folder(environ: Mapping[str, str] | None = None) -> Path:
    """Where exports and password files go by default: a private folder of the user's data
    (`$XDG_DATA_HOME/usher/exports`, else `~/.local/share/usher/exports`), created mode 0700 —
    not the working directory, where a CSV of people's details landed in a checkout."""
    env = os.environ if environ is None else environ
    base = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else None
    folder = (base or Path.home() / ".local" / "share") / "usher" / "exports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


class ExportError(Refused):
    """The file cannot be written; the message says why, for people."""


def neutralise(value: Any) -> str:
    """The cell as text, with `'` in front when a spreadsheet would treat it as a formula.

    None is an empty cell; numbers and booleans are written as they are (`yes`/`no`). A negative
    number would be a harmless formula, but we only export counts and ids, never negative.
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


def _write(handle: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in header])
    count = 0
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
        count += 1
    return count


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The whole CSV as one string (for standard output, small exports and tests)."""
    buffer = io.StringIO()
    _write(buffer, header, rows)
    return buffer.getvalue()


@contextmanager
def _open_private(path: str | os.PathLike[str], *, overwrite: bool) -> Iterator[IO[str]]:
    """A text handle on a file created with mode 0600; an existing file is refused unless
    `overwrite` (then it is truncated and made private)."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise ExportError(f"{str(target)!r} is a folder: give a file name")
    if not target.parent.is_dir():
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
        handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def write_csv(
    path: str | os.PathLike[str],
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    overwrite: bool = False,
) -> int:
    """Write `rows` under `header` to a new private file; return the row count."""
    with _open_private(path, overwrite=overwrite) as handle:
        return _write(handle, header, rows)


def write_private(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` as it is (no neutralising: e.g. JSON) to a new private file."""
    with _open_private(path, overwrite=False) as handle:
        handle.write(text)
