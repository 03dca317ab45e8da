"""Parsing the bulk ("Advanced") lines: `FirstName LastName,Email[,Password]`, one account a line.

Pure and fast (10,000 lines in a fraction of a second), so the console can re-parse the whole
text on every pause in typing. Accepted: CSV with quoted fields, tab-separated rows pasted from a
spreadsheet (a line holding a tab is split on tabs), and a header row naming first / last /
name / email / password columns (other columns are ignored). Without a header, the first field
is the name, split at the first space (first word = first name, the rest = last name), the
second the address, the third the password — verbatim, only surrounding whitespace trimmed.

Every problem carries the line number of the text it came from (blank lines count, as in an
editor). Nothing here touches the database: accounts that already exist are marked by
`mark_existing`, fed by a query in `store.onboarding.bulk`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterable
from functools import lru_cache
from typing import Literal

import msgspec

from store.domain.addresses import AddressProblem, address_key, normalise_address
from store.domain.forms import MAX_NAME
from store.domain.passwords import password_problem
from store.domain.text import strip_unsafe, text_problem, visible

PasswordMode = Literal["same", "random", "given"]
"""How passwords are made: one for all, random for each (one-time credentials), given per line."""
PASSWORD_MODES: tuple[PasswordMode, ...] = ("same", "random", "given")

ProblemKind = Literal["email", "name", "duplicate", "exists", "password", "fields"]

MAX_NAME_LENGTH = MAX_NAME
MASK = "********"
"""What a given password looks like in reports: they go to screens and files."""

_HEADER_ROLES = {
    "first": "first",
    "first name": "first",
    "firstname": "first",
    "given name": "first",
    "forename": "first",
    "last": "last",
    "last name": "last",
    "lastname": "last",
    "surname": "last",
    "family name": "last",
    "name": "name",
    "full name": "name",
    "fullname": "name",
    "email": "email",
    "e mail": "email",
    "email address": "email",
    "e mail address": "email",
    "mail": "email",
    "password": "password",
    "pass": "password",
    "pw": "password",
}
_SEPARATORS = re.compile(r"[\s_\-]+")


# gc=False on the bulk records: they never hold a reference cycle, and a 10,000-line batch makes
# tens of thousands of them; untracked, they add nothing to the garbage collector's passes (which
# hold the GIL, and so the console's event loop).
class Problem(msgspec.Struct, frozen=True, gc=False):
    kind: ProblemKind
    message: str


EXISTS = Problem("exists", "already exists: an account with this address exists")


class BulkLine(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One non-blank input line as parsed. `problems` empty = an account can be made from it."""

    line: int
    """1-based line number in the text (blank lines and the header count)."""
    input: str
    """The line as typed, any password masked, control characters shown as symbols (␛)."""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    """Normalised when valid; otherwise the text that was given (for the report)."""
    password: str | None = None
    """The given password (third field), None when the line has none."""
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def error(self) -> str:
        """Every problem of the line in one sentence (empty when it has none)."""
        return "; ".join(problem.message for problem in self.problems)

    def has(self, kind: ProblemKind) -> bool:
        return any(problem.kind == kind for problem in self.problems)

    def __repr__(self) -> str:  # never show a password in a traceback or log
        shown = "None" if self.password is None else repr(MASK)
        return (
            f"BulkLine(line={self.line}, email={self.email!r}, name={self.name!r}, "
            f"password={shown}, problems={[p.message for p in self.problems]!r})"
        )


class ParsedLines(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """The parse of a whole text for one password mode."""

    lines: tuple[BulkLine, ...]
    mode: PasswordMode
    header_line: int | None = None
    """The line number of the header row, when there is one."""
    columns: tuple[str, ...] = ()
    """The roles the header gave each column (`first`, `last`, `name`, `email`, `password`, ``)."""

    @property
    def ready(self) -> list[BulkLine]:
        return [line for line in self.lines if line.ok]

    @property
    def problems(self) -> list[BulkLine]:
        return [line for line in self.lines if not line.ok]

    @property
    def total(self) -> int:
        return len(self.lines)

    @property
    def ready_count(self) -> int:
        return sum(1 for line in self.lines if line.ok)

    @property
    def problem_count(self) -> int:
        return self.total - self.ready_count


def split_name(full: str) -> tuple[str, str]:
    """`Ann Marie Lee` → (`Ann`, `Marie Lee`): the first word, then the rest."""
    first, _, last = full.strip().partition(" ")
    return first, last.strip()


@lru_cache(maxsize=65536)
def _address(text: str) -> tuple[str, str | None]:
    """(normalised address, None) or (text, why it is refused); cached: re-parses are cheap."""
    try:
        return normalise_address(text), None
    except AddressProblem as problem:
        return text, str(problem)


def _split(raw: str, delimiter: str) -> list[str]:
    if '"' not in raw:
        return raw.split(delimiter)
    return next(csv.reader([raw], delimiter=delimiter, skipinitialspace=True), [])


def _header_key(cell: str) -> str:
    return _SEPARATORS.sub(" ", cell.strip().casefold()).strip()


def header_roles(fields: list[str]) -> tuple[str, ...] | None:
    """The role of each column when `fields` is a header row, else None.

    A header names an email column and holds no address; unknown columns get the role ``.
    """
    if any("@" in cell for cell in fields):
        return None
    roles: list[str] = []
    taken: set[str] = set()
    for cell in fields:
        role = _HEADER_ROLES.get(_header_key(cell), "")
        if role in taken:
            role = ""
        taken.add(role)
        roles.append(role)
    return tuple(roles) if "email" in roles else None


def _quote(cell: str, delimiter: str) -> str:
    if delimiter in cell or '"' in cell:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _shown(fields: list[str], delimiter: str, secret: Iterable[int]) -> str:
    cells = list(fields)
    for index in secret:
        if index < len(cells) and cells[index].strip():
            cells[index] = MASK
    return visible(delimiter.join(_quote(cell.strip(), delimiter) for cell in cells))


_ANY_SEPARATOR = re.compile(r"[,;\t|]")
_AFTER_ADDRESS = re.compile(r"\S@\S+\s+(.+)$")
_ADDRESS_SHAPED = re.compile(r"[^\s@]+@[^\s@]+")
_EDGE = "\\s,;|\t\"'()<>"


def _suspects(text: str, roles: tuple[str, ...] | None) -> list[str]:
    """What in a malformed line might be a password, longest first. A broken line (another
    separator, an unbalanced quote, spaces for commas) cannot be trusted to say where its
    password is, so this guesses wide: cut at every separator a spreadsheet might use, quotes
    ignored; without a header, every piece from the third on and every piece after the first
    address-shaped one; with a header, the password columns and any piece beyond the header's
    columns; and in every piece, the words after an address. Valid addresses are never taken."""
    pieces = [piece.strip().strip("\"'").strip() for piece in _ANY_SEPARATOR.split(text)]
    if roles is None:
        address_at = next(
            (i for i, piece in enumerate(pieces) if _ADDRESS_SHAPED.fullmatch(piece)), 1
        )
        taken = {i for i in range(len(pieces)) if i >= 2 or i > address_at}
    else:
        taken = {i for i in range(len(pieces)) if i >= len(roles) or roles[i] == "password"}
    found = {pieces[i] for i in taken if pieces[i] and _address(pieces[i])[1] is not None}
    for piece in pieces:
        after = _AFTER_ADDRESS.search(piece)
        if after:
            found.add(after.group(1).strip())
    found.discard("")
    return sorted(found, key=len, reverse=True)


def _masked(text: str, suspects: list[str]) -> str:
    """`text` with every suspect that stands alone (between separators, spaces or quotes)
    replaced by MASK."""
    for suspect in suspects:
        text = re.sub(f"(?<![^{_EDGE}]){re.escape(suspect)}(?![^{_EDGE}])", MASK, text)
    return text


def _name_problems(first: str, last: str, given: list[str]) -> list[Problem]:
    """`given`: the cells the name came from, as typed (checked for control characters)."""
    for cell in given:
        problem = text_problem(cell)
        if problem:
            return [Problem("name", f"name {problem}")]
    if not first and not last:
        return [Problem("name", "missing name")]
    if len(first) > MAX_NAME_LENGTH or len(last) > MAX_NAME_LENGTH:
        return [Problem("name", f"name longer than {MAX_NAME_LENGTH} characters")]
    return []


def _parse_row(
    number: int,
    raw: str,
    fields: list[str],
    delimiter: str,
    roles: tuple[str, ...] | None,
    mode: PasswordMode,
    org: str,
) -> BulkLine:
    problems: list[Problem] = []
    first = last = email_text = ""
    password: str | None = None
    names: list[str] = []
    if roles is None:
        expected = 3
        secret: tuple[int, ...] = tuple(range(2, len(fields)))
        if len(fields) == 1 and "@" in fields[0]:
            email_text = fields[0]
        else:
            names = [fields[0]]
            first, last = split_name(strip_unsafe(fields[0]))
            email_text = fields[1] if len(fields) > 1 else ""
        if len(fields) > 2:
            password = fields[2].strip() or None
    else:
        expected = len(roles)
        secret = tuple(i for i, role in enumerate(roles) if role == "password")
        secret += tuple(range(len(roles), len(fields)))
        cells = {role: fields[i] for i, role in enumerate(roles) if role and i < len(fields)}
        if "first" in cells or "last" in cells:
            names = [cells.get("first", ""), cells.get("last", "")]
            first = strip_unsafe(names[0])
            last = strip_unsafe(names[1])
            if not first and not last and "name" in cells:
                names = [cells["name"]]
                first, last = split_name(strip_unsafe(cells["name"]))
        elif "name" in cells:
            names = [cells["name"]]
            first, last = split_name(strip_unsafe(cells["name"]))
        email_text = cells.get("email", "")
        password = cells.get("password", "").strip() or None
    if any(i < len(fields) and fields[i].strip() for i in secret):
        shown = _shown(fields, delimiter, secret)
    else:
        shown = visible(raw)

    if len(fields) > expected:
        problems.append(
            Problem(
                "fields",
                f"too many fields ({len(fields)}, expected at most {expected}): "
                "quote a field that contains a comma",
            )
        )
    problems.extend(_name_problems(first, last, names))
    unsafe = text_problem(email_text)
    email_text = email_text.strip()
    email = visible(email_text)
    if not email_text:
        problems.append(Problem("email", "missing email address"))
    elif unsafe:
        problems.append(Problem("email", f"email {unsafe}"))
    else:
        email, reason = _address(email_text)
        if reason is not None:
            problems.append(Problem("email", f"invalid email: {reason}"))
    if mode == "given":
        if password is None:
            problems.append(Problem("password", "missing password (passwords are given per line)"))
        else:
            own = (first, last, f"{first} {last}")
            weak = password_problem(password, email=email, names=own, org=org)
            if weak:
                why = weak[:1].lower() + weak[1:].rstrip(".")
                problems.append(Problem("password", f"weak password: {why}"))
    if problems:
        suspects = _suspects(visible(raw), roles)
        if suspects:
            shown, first, last, email = (
                _masked(part, suspects) for part in (shown, first, last, email)
            )
            problems = [Problem(p.kind, _masked(p.message, suspects)) for p in problems]
    return BulkLine(
        line=number,
        input=shown.strip(),
        first_name=first,
        last_name=last,
        email=email,
        password=password,
        problems=tuple(problems),
    )


def split_lines(text: str) -> list[str]:
    """The text's lines as an editor numbers them (`\\r\\n`, `\\r` and `\\n` all end a line)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_bulk_lines(text: str, mode: PasswordMode = "random", *, org: str = "") -> ParsedLines:
    """Every non-blank line of `text` with its problems; never raises.

    In "given" mode a line needs a password that passes the policy (`org`: the organisation's
    name, which a password must not be built on; the estimate costs a few ms a password). An
    address repeated in the batch is kept on its first line and reported on the others.
    """
    roles: tuple[str, ...] | None = None
    header_line: int | None = None
    first_row = True
    first_seen: dict[str, int] = {}
    lines: list[BulkLine] = []
    for number, raw in enumerate(split_lines(text), start=1):
        if not raw.strip():
            continue
        delimiter = "\t" if "\t" in raw else ","
        fields = _split(raw, delimiter)
        while fields and not fields[-1].strip():
            fields.pop()
        if not fields:
            continue
        if first_row:
            first_row = False
            roles = header_roles(fields)
            if roles is not None:
                header_line = number
                continue
        line = _parse_row(number, raw, fields, delimiter, roles, mode, org)
        if not line.has("email"):
            key = address_key(line.email)
            earlier = first_seen.setdefault(key, number)
            if earlier != number:
                duplicate = Problem("duplicate", f"duplicate of line {earlier} ({line.email})")
                line = msgspec.structs.replace(line, problems=(*line.problems, duplicate))
        lines.append(line)
    return ParsedLines(lines=tuple(lines), mode=mode, header_line=header_line, columns=roles or ())


def mark_existing(parsed: ParsedLines, existing: Collection[str]) -> ParsedLines:
    """`parsed` with "already exists" added to lines whose address (in `address_key` form) is
    in `existing`. Lines that already have a problem with their address are left alone."""
    if not existing:
        return parsed
    marked = []
    for line in parsed.lines:
        known = line.has("email") or line.has("exists")
        if not known and address_key(line.email) in existing:
            line = msgspec.structs.replace(line, problems=(*line.problems, EXISTS))
        marked.append(line)
    return msgspec.structs.replace(parsed, lines=tuple(marked))


def valid_addresses(parsed: ParsedLines) -> list[str]:
    """Every well-formed address in the batch (the ones worth looking up in the database)."""
    return [line.email for line in parsed.lines if not line.has("email")]
