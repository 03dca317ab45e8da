"""Pasted email lists: whatever a mail client or a spreadsheet gives an admin, read the way
DESIGN.md's parsing rules say.

- Entries are split on new lines, commas, semicolons and tabs, and on spaces between bare
  addresses; words before an address in the same entry are its display name (`Ann Lee
  ann@x.org`); quoted names may contain commas (`"Lee, Ann" <ann@x.org>`).
- A first line that is a header (`email`, `name,email`, `First name<TAB>Email`…) is skipped, and
  its columns say where the address and the name are on every row.
- Cells without an address on a row that has one are the name (a spreadsheet row
  `Ann<TAB>Lee<TAB>ann@x.org`); a line with no address at all is a problem.
- Addresses are checked by `store.domain.addresses.normalise_address` (no DNS) and compared
  case-insensitively: the second `Ann@X.org` is reported as a duplicate of the first.

The parser is a pure function of the text: it never raises, never touches the database, and reads
10,000 lines in a fraction of a second (checked addresses are remembered, so re-parsing as the
admin types costs only the new ones).
"""

from __future__ import annotations

import csv
import functools
import re
from typing import Literal

import msgspec

from store.domain.addresses import AddressProblem, address_key, normalise_address
from store.domain.forms import MAX_NAME
from store.domain.text import clean_line, one_line, text_problem, visible

__all__ = [
    "MAX_NAME",
    "ListEntry",
    "ListProblem",
    "ParsedList",
    "parse_email_list",
    "split_name",
]

"""Longest display name kept (longer ones are cut): it only greets the person in the email."""

MAX_SHOWN_INPUT = 120
"""Problem rows quote at most this much of the input."""

ProblemKind = Literal["invalid", "duplicate"]


class ListEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One address to invite: where it was, its display name (may be empty) and its stored form."""

    line: int
    address: str
    name: str = ""


class ListProblem(msgspec.Struct, frozen=True, kw_only=True):
    """Something in the paste that will not be invited, with its line and why, for people.

    `invalid`: not an address (`text` is what was written); `duplicate`: the address appeared
    earlier in the paste (`first_line`).
    """

    line: int
    text: str
    reason: str
    kind: ProblemKind = "invalid"
    first_line: int | None = None


class ParsedList(msgspec.Struct, frozen=True, kw_only=True):
    entries: list[ListEntry]
    problems: list[ListProblem]
    header_line: int | None = None
    lines: int = 0

    @property
    def invalid(self) -> list[ListProblem]:
        return [p for p in self.problems if p.kind == "invalid"]

    @property
    def duplicates(self) -> list[ListProblem]:
        return [p for p in self.problems if p.kind == "duplicate"]


# --- checking addresses (remembered: previews re-parse the whole paste on every pause) ------------


@functools.lru_cache(maxsize=65536)
def _check(candidate: str) -> tuple[str, str]:
    """(normalised address, "") or ("", reason)."""
    try:
        return normalise_address(candidate), ""
    except AddressProblem as problem:
        return "", str(problem)


# --- names ----------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def _clean_name(text: str) -> str:
    name = _SPACES.sub(" ", clean_line(text)).strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        name = name[1:-1].strip()
    return name.strip('"').strip()[:MAX_NAME].strip()


def split_name(name: str) -> tuple[str, str]:
    """A display name as (first, last): `Lee, Ann` → (Ann, Lee); `Ann Lee` → (Ann, Lee).

    Only a suggestion for the acceptance form, where people correct it themselves.
    """
    name = _clean_name(name)
    if "@" in name:
        return "", ""
    if "," in name:
        last, _, first = name.partition(",")
        return first.strip(), last.strip()
    first, _, last = name.partition(" ")
    return first.strip(), last.strip()


# --- tokens ---------------------------------------------------------------------------------------

_SEPARATORS = frozenset(",;\t")
_SIMPLE_LINE = re.compile(r'^[^"<(]*$')
_SIMPLE_SPLIT = re.compile(r"[,;\t]")


def _split_cells(line: str) -> list[str]:
    """The line cut at commas, semicolons and tabs outside quotes, angle brackets and comments.

    An unclosed quote, bracket or parenthesis is taken literally (it must not swallow the rest).
    """
    if _SIMPLE_LINE.match(line):
        return _SIMPLE_SPLIT.split(line)
    cells: list[str] = []
    start = 0
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if ch in _SEPARATORS:
            cells.append(line[start:i])
            start = i + 1
        elif ch == '"':
            end = _closing_quote(line, i)
            if end > 0:
                i = end
        elif ch in "<(":
            end = line.find(">" if ch == "<" else ")", i + 1)
            if end > 0:
                i = end
        i += 1
    cells.append(line[start:])
    return cells


def _closing_quote(text: str, start: int) -> int:
    """Index of the quote closing the one at `start` (`\\"` and `""` escape), or -1."""
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            if i + 1 < n and text[i + 1] == '"':
                i += 2
                continue
            return i
        i += 1
    return -1


def _unquote(inner: str) -> str:
    return inner.replace('\\"', '"').replace('""', '"').replace("\\\\", "\\")


TokenKind = Literal["word", "quoted", "angle", "comment"]


def _tokens(cell: str) -> list[tuple[TokenKind, str]]:
    """Words, "quoted strings", <angle addresses> and (comments) of one cell."""
    if _SIMPLE_LINE.match(cell):
        return [("word", word) for word in cell.split()]
    tokens: list[tuple[TokenKind, str]] = []
    i = 0
    n = len(cell)
    word_start = -1

    def end_word(at: int) -> None:
        nonlocal word_start
        if word_start >= 0:
            tokens.append(("word", cell[word_start:at]))
            word_start = -1

    while i < n:
        ch = cell[i]
        if ch.isspace():
            end_word(i)
        elif ch == '"':
            end = _closing_quote(cell, i)
            if end < 0:
                if word_start < 0:
                    word_start = i
            else:
                end_word(i)
                tokens.append(("quoted", _unquote(cell[i + 1 : end])))
                i = end
        elif ch in "<(":
            end = cell.find(">" if ch == "<" else ")", i + 1)
            if end < 0:
                if word_start < 0:
                    word_start = i
            else:
                end_word(i)
                tokens.append(("angle" if ch == "<" else "comment", cell[i + 1 : end]))
                i = end
        elif word_start < 0:
            word_start = i
        i += 1
    end_word(n)
    return tokens


# --- items of a line ------------------------------------------------------------------------------


class _Address(msgspec.Struct):
    text: str
    name: str


class _Orphan(msgspec.Struct):
    """Text with no address in it: a name cell, another column, or a mistyped address."""

    text: str


_Item = _Address | _Orphan


def _strip_address(text: str) -> str:
    text = text.strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    while len(text) >= 2 and (text[0], text[-1]) in {("'", "'"), ("[", "]"), ('"', '"')}:
        text = text[1:-1].strip()
    return text


def _names(word: str, following: tuple[TokenKind, str] | None) -> bool:
    """Whether a bare address is the display name of the angle address after it: Outlook
    writes `ann@x.org <ann@x.org>`. A different address after it is an address of its own."""
    return (
        following is not None
        and following[0] == "angle"
        and address_key(_strip_address(following[1])) == address_key(_strip_address(word))
    )


def _parse_cell(cell: str) -> list[_Item]:
    items: list[_Item] = []
    pending: list[str] = []
    tokens = _tokens(cell)
    for index, (kind, text) in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if kind == "angle" or (kind == "word" and "@" in text and not _names(text, following)):
            items.append(_Address(_strip_address(text), " ".join(pending)))
            pending = []
        elif kind == "quoted" and "@" in text and (following is None or following[0] != "angle"):
            if pending:
                items.append(_Orphan(" ".join(pending)))
                pending = []
            items.extend(_parse_cell(text))
        elif kind == "comment":
            last = items[-1] if items else None
            if not pending and isinstance(last, _Address) and not last.name:
                last.name = text
            else:
                pending.append(f"({text})")
        else:
            pending.append(text)
    if pending:
        items.append(_Orphan(" ".join(pending)))
    return items


_LOOKS_LIKE_ADDRESS = re.compile(r"^[^\s@]+\.[^\W\d_]{2,}$")


def _orphan_reason(text: str) -> str:
    if _LOOKS_LIKE_ADDRESS.match(text.strip()):
        return "an email address must have an @-sign"
    return "no email address found"


def _attach_orphans(items: list[_Item]) -> tuple[list[_Address], list[_Orphan]]:
    """Give name cells to the address they belong to; return the addresses and the orphans
    that are problems (a line with no address, or text that looks like a mistyped address)."""
    addresses = [item for item in items if isinstance(item, _Address)]
    orphans = [item for item in items if isinstance(item, _Orphan) and item.text.strip()]
    if not addresses:
        return [], orphans
    problems = [o for o in orphans if _LOOKS_LIKE_ADDRESS.match(o.text.strip())]
    before: list[str] = []
    trailing: list[str] = []
    for item in items:
        if isinstance(item, _Orphan):
            text = item.text.strip()
            if text and not _LOOKS_LIKE_ADDRESS.match(text):
                before.append(text)
            continue
        if before:
            if not item.name:
                item.name = " ".join(before)
            else:  # `Lee, Ann <ann@x.org>` written without quotes
                item.name = ", ".join([*before, item.name])
            before = []
    trailing = before
    if trailing and len(addresses) == 1 and not addresses[0].name:
        addresses[0].name = " ".join(trailing)
    return addresses, problems


# --- the header and its columns -------------------------------------------------------------------


def _label(cell: str) -> str:
    return re.sub(r"[\s_\-.:]+", "", cell.strip().strip("\"'").casefold())


_EMAIL_LABELS = frozenset(
    {"email", "emails", "mail", "emailaddress", "address", "courriel", "correo", "epost"}
)
_FULL_NAME_LABELS = frozenset({"name", "fullname", "displayname", "names", "nom", "nombre"})
_FIRST_LABELS = frozenset({"first", "firstname", "givenname", "forename", "prenom", "vorname"})
_LAST_LABELS = frozenset({"last", "lastname", "surname", "familyname", "nachname", "apellido"})
_OTHER_LABELS = frozenset(
    {"title", "role", "department", "phone", "id", "studentid", "class", "group", "notes", "team"}
)


def _is_email_label(label: str) -> bool:
    return label in _EMAIL_LABELS or "email" in label


class _Header(msgspec.Struct):
    delimiter: str | None
    email_column: int | None
    name_column: int | None
    first_column: int | None
    last_column: int | None


def _header(line: str) -> _Header | None:
    """The columns a first line names, or None when it is not a header."""
    if "@" in line:
        return None
    delimiter = next((d for d in "\t,;" if d in line), None)
    cells = next(csv.reader([line], delimiter=delimiter)) if delimiter else [line]
    labels = [_label(cell) for cell in cells]
    if not any(labels):
        return None
    known = _EMAIL_LABELS | _FULL_NAME_LABELS | _FIRST_LABELS | _LAST_LABELS | _OTHER_LABELS
    has_email = any(_is_email_label(label) for label in labels)
    if not has_email and not all(label in known for label in labels if label):
        return None

    def column(test: frozenset[str]) -> int | None:
        return next((i for i, label in enumerate(labels) if label in test), None)

    email_column = column(frozenset({"email", "emailaddress", "mail"}))
    if email_column is None:
        email_column = next((i for i, lb in enumerate(labels) if _is_email_label(lb)), None)
    return _Header(
        delimiter=delimiter if len(cells) > 1 else None,
        email_column=email_column,
        name_column=column(_FULL_NAME_LABELS),
        first_column=column(_FIRST_LABELS),
        last_column=column(_LAST_LABELS),
    )


def _row_by_columns(line: str, header: _Header) -> list[_Address] | None:
    """A spreadsheet row read by the header's columns, or None to read it as free text."""
    if header.delimiter is None or header.email_column is None:
        return None
    try:
        cells = next(csv.reader([line], delimiter=header.delimiter))
    except (csv.Error, StopIteration):
        return None
    if header.email_column >= len(cells) or "@" not in cells[header.email_column]:
        return None
    addresses = [
        item for item in _parse_cell(cells[header.email_column]) if isinstance(item, _Address)
    ]

    def cell(index: int | None) -> str:
        return cells[index].strip() if index is not None and index < len(cells) else ""

    name = cell(header.name_column) or " ".join(
        part for part in (cell(header.first_column), cell(header.last_column)) if part
    )
    for address in addresses:
        if not address.name:
            address.name = name
    return addresses


# --- the parser -----------------------------------------------------------------------------------


def _shown(text: str) -> str:
    text = visible(one_line(text))
    return text if len(text) <= MAX_SHOWN_INPUT else text[: MAX_SHOWN_INPUT - 1] + "…"


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BLANK = " \t,;\u00a0\u200b"
"""A line of only these (spaces, separators) is blank."""


def parse_email_list(text: str) -> ParsedList:
    """Every address in `text` with its line number and name, and every problem with its line.

    Never raises: whatever is pasted, the worst outcome is a list of problems.
    """
    entries: list[ListEntry] = []
    problems: list[ListProblem] = []
    seen: dict[str, int] = {}
    header: _Header | None = None
    header_line: int | None = None
    first_content = True
    lines = _LINE_BREAK.split(text)
    for number, raw in enumerate(lines, start=1):
        line = raw.replace("\ufeff", "").replace("\x00", "")
        if not line.strip(_BLANK):
            continue
        if first_content:
            first_content = False
            header = _header(line)
            if header is not None:
                header_line = number
                continue
        addresses = _row_by_columns(line, header) if header is not None else None
        orphans: list[_Orphan] = []
        if addresses is None:
            items: list[_Item] = []
            for cell in _split_cells(line):
                if cell.strip():
                    items.extend(_parse_cell(cell))
            addresses, orphans = _attach_orphans(items)
            if not addresses:
                problems.append(
                    ListProblem(
                        line=number,
                        text=_shown(line),
                        reason=_orphan_reason(orphans[0].text if len(orphans) == 1 else line),
                    )
                )
                continue
        for orphan in orphans:
            problems.append(
                ListProblem(
                    line=number, text=_shown(orphan.text), reason=_orphan_reason(orphan.text)
                )
            )
        for item in addresses:
            address, reason = _check(item.text)
            if not address:
                problems.append(ListProblem(line=number, text=_shown(item.text), reason=reason))
                continue
            key = address_key(address)
            if key in seen:
                problems.append(
                    ListProblem(
                        line=number,
                        text=address,
                        reason=f"already in this list (line {seen[key]})",
                        kind="duplicate",
                        first_line=seen[key],
                    )
                )
                continue
            unsafe = text_problem(item.name)
            if unsafe:
                shown = _shown(f"{item.name} <{address}>")
                problems.append(ListProblem(line=number, text=shown, reason=f"the name {unsafe}"))
                continue
            seen[key] = number
            name = _clean_name(item.name)
            if address_key(name) == key:
                name = ""
            entries.append(ListEntry(line=number, address=address, name=name))
    return ParsedList(entries=entries, problems=problems, header_line=header_line, lines=len(lines))


def lines_to_fix(text: str, parsed: ParsedList) -> str:
    """The pasted lines holding something that is not an address (with the header line, if
    there was one), so that after sending the admin is left with exactly what still needs them:
    on a line that also held addresses, only the parts that are not addresses."""
    wanted = {problem.line for problem in parsed.invalid}
    if not wanted:
        return ""
    if parsed.header_line is not None:
        wanted.add(parsed.header_line)
    sent_on = {entry.line for entry in parsed.entries}
    lines = _LINE_BREAK.split(text)
    kept: list[str] = []
    for number, line in enumerate(lines, start=1):
        if number not in wanted:
            continue
        if number not in sent_on or number == parsed.header_line:
            kept.append(line)
            continue
        # The line also held addresses that were just sent: keep only what is not one, in the
        # order it was typed (the box must never offer to invite them a second time).
        bad = [problem.text for problem in parsed.invalid if problem.line == number]
        kept.append(", ".join(sorted(bad, key=lambda part: (line.find(part), part))))
    return "\n".join(kept)
