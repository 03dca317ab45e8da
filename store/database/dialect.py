"""The one place where SQL differs between the engines: the operations write SQLite's SQL, and
`to_postgres` turns each statement into PostgreSQL's (once per distinct text, cached).

What changes, and why it is safe:
- placeholders: `?` → `%s`, `?1` → `%(_1)s`, `:name` → `%(name)s`, a literal `%` → `%%`
  (psycopg's format; `parameters` gives numbered ones their names);
- `LIKE` → `COLLATE "C" ILIKE`: SQLite's LIKE ignores the case of ASCII letters only, and so
  does ILIKE under the "C" collation (which also lets it run on "nocase" columns);
- `COLLATE NOCASE` → `COLLATE "nocase"`, a case-insensitive ICU collation made by
  `POSTGRES_COMPAT`;
- `INSERT OR IGNORE` → `INSERT … ON CONFLICT DO NOTHING`;
- an upsert's `DO UPDATE SET n = n + 1`: PostgreSQL reads a bare `n` there as ambiguous (the
  row or `excluded`), SQLite as the row's, so bare names are qualified with the table's;
- `x IN (SELECT value FROM json_each(?))` compares as text (the ids in a JSON array), and the
  JSON functions SQLite has built in are `usher_json_*` functions (`POSTGRES_COMPAT`);
- `date(t, 'localtime')` → `usher_date(…)`;
- `? IS NULL` → `CAST(? AS text) IS NULL` (a parameter needs a type there);
- `x IS ?` → `x IS NOT DISTINCT FROM ?` (SQLite's IS compares any two values);
- `LIMIT ?` → `LIMIT NULLIF(?, -1)`: SQLite's "no limit" is -1, PostgreSQL's NULL;
- `FROM (SELECT …)` gets an alias (PostgreSQL before 16 needs one);
- a claim (`UPDATE t … WHERE id IN (SELECT id FROM t … LIMIT n)`) locks the rows it picks with
  `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait for or take each other's rows.
`sum(boolean)`, a number plus a boolean and a two-argument `max`/`min` exist on PostgreSQL as
the small functions in `POSTGRES_COMPAT` (SQLite's booleans are integers).

`BEGIN IMMEDIATE` has no statement here: the PostgreSQL engine opens each write transaction
with `BEGIN` and a transaction-scoped advisory lock (`WRITE_LOCK_SQL`), so writes are one at a
time across every process, as SQLite's write lock makes them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

WRITE_LOCK_KEY = 0x7573686572  # "usher"
WRITE_LOCK_SQL = f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})"
"""Every write transaction takes this first: one writer at a time, as on SQLite."""
WRITE_LOCK_AS_SQL = (
    f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY}), set_config('usher.sender', %s, true)"
)
"""The lock, and this process's id for the change triggers' NOTIFY, in one round trip."""

SCHEDULER_LOCK_KEY = WRITE_LOCK_KEY + 1
"""Session-level advisory lock held by the one server that runs scheduled work."""

NOTIFY_CHANNEL = "usher_changes"

TEXT_COLUMNS_SQL = """SELECT table_name, column_name FROM information_schema.columns
                       WHERE table_schema = current_schema() AND data_type = 'text'
                       ORDER BY table_name, ordinal_position"""
"""(table, column) for every text column of Usher's schema (the erasure's sweep)."""
PRIMARY_KEYS_SQL = """SELECT t.relname, a.attname FROM pg_index i
                        JOIN pg_class t ON t.oid = i.indrelid
                        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey)
                       WHERE i.indisprimary
                         AND t.relnamespace = CAST(current_schema() AS regnamespace)
                       ORDER BY t.relname, array_position(i.indkey, a.attnum)"""
"""(table, column) of each table's primary key, in key order."""


def database_label(db: str) -> str:
    """What the console's header names the database by: a SQLite file's name, or a
    PostgreSQL database's name (never the URL, which may hold a password)."""
    if not is_postgres_url(db):
        return Path(db).name
    parts = urlsplit(db)
    name = parts.path.lstrip("/")
    return f"{name or 'postgresql'}@{parts.hostname or 'localhost'}"


def is_postgres_url(db: str) -> bool:
    """`postgresql://…` or `postgres://…` (libpq's URL forms, `?sslmode=…` and all) names a
    PostgreSQL database; anything else is a SQLite path, as before."""
    return db.startswith(("postgresql://", "postgres://"))


POSTGRES_COMPAT = [
    """DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'nocase') THEN
           CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2',
                                    deterministic = false);
         END IF;
       END $$""",
    """CREATE OR REPLACE FUNCTION usher_json_extract(body text, path text) RETURNS text
       LANGUAGE sql IMMUTABLE AS
       $$ SELECT CAST(body AS jsonb) #>> string_to_array(substr(path, 3), '.') $$""",
    """CREATE OR REPLACE FUNCTION usher_json_set(body text, path text, value anyelement)
       RETURNS text LANGUAGE sql IMMUTABLE AS
       $$ SELECT CAST(jsonb_set(CAST(body AS jsonb), string_to_array(substr(path, 3), '.'),
                                to_jsonb(value), true) AS text) $$""",
    """CREATE OR REPLACE FUNCTION usher_json_each(body text) RETURNS TABLE (value text)
       LANGUAGE sql IMMUTABLE AS
       $$ SELECT jsonb_array_elements_text(CAST(body AS jsonb)) $$""",
    """CREATE OR REPLACE FUNCTION usher_json_valid(body text) RETURNS boolean
       LANGUAGE plpgsql IMMUTABLE AS
       $$ BEGIN PERFORM CAST(body AS jsonb); RETURN true;
          EXCEPTION WHEN others THEN RETURN false; END $$""",
    """CREATE OR REPLACE FUNCTION usher_date(moment text, modifier text) RETURNS text
       LANGUAGE sql STABLE AS
       $$ SELECT CAST(CAST(CAST(moment AS timestamptz) AT TIME ZONE
                   CASE WHEN modifier = 'localtime' THEN current_setting('TimeZone')
                        ELSE 'UTC' END AS date) AS text) $$""",
    """CREATE OR REPLACE FUNCTION usher_sum_bool(total bigint, value boolean) RETURNS bigint
       LANGUAGE sql IMMUTABLE AS
       $$ SELECT CASE WHEN value IS NULL THEN total
                      ELSE coalesce(total, 0) + CAST(value AS integer) END $$""",
    """DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'sum'
                          AND pronamespace = CAST(current_schema() AS regnamespace)) THEN
           CREATE AGGREGATE sum(boolean) (SFUNC = usher_sum_bool, STYPE = bigint);
         END IF;
       END $$""",
    """CREATE OR REPLACE FUNCTION usher_add_bool(number bigint, value boolean) RETURNS bigint
       LANGUAGE sql IMMUTABLE AS $$ SELECT number + CAST(value AS integer) $$""",
    """DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_operator WHERE oprname = '+'
                          AND oprleft = CAST('bigint' AS regtype)
                          AND oprright = CAST('boolean' AS regtype)) THEN
           CREATE OPERATOR + (LEFTARG = bigint, RIGHTARG = boolean, FUNCTION = usher_add_bool);
         END IF;
       END $$""",
    """CREATE OR REPLACE FUNCTION max(a bigint, b bigint) RETURNS bigint
       LANGUAGE sql IMMUTABLE AS $$ SELECT GREATEST(a, b) $$""",
    """CREATE OR REPLACE FUNCTION min(a bigint, b bigint) RETURNS bigint
       LANGUAGE sql IMMUTABLE AS $$ SELECT LEAST(a, b) $$""",
]
"""What SQLite has built in and PostgreSQL lacks, made once per database (pg_schema.py)."""

_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_LIKE = re.compile(r"(?<![:\w])(NOT\s+)?LIKE\b", re.IGNORECASE)
_NOCASE = re.compile(r"\bCOLLATE\s+NOCASE\b", re.IGNORECASE)
_OR_IGNORE = re.compile(r"\bINSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_JSON_IN = re.compile(
    r"([\w.\"]+)(\s+IN\s*\(\s*SELECT\s+value\s+FROM\s+)json_each\(", re.IGNORECASE
)
_FUNCTIONS = re.compile(
    r"(?<![:\w])(json_each|json_extract|json_set|json_valid|date)\(", re.IGNORECASE
)
_NUMBERED = re.compile(r"\?(\d+)")
_LIMIT = re.compile(r"\bLIMIT\s+(\?|:\w+)", re.IGNORECASE)
_PARAM_IS_NULL = re.compile(r"(\?|:\w+)\s+IS\s+(NOT\s+)?NULL\b", re.IGNORECASE)
_IS_PARAM = re.compile(r"\bIS\s+(NOT\s+)?(\?|:\w+)", re.IGNORECASE)
_INSERT_TABLE = re.compile(r"^\s*INSERT\s+INTO\s+\"?(\w+)\"?", re.IGNORECASE)
_UPSERT_SET = re.compile(
    r"(\bDO\s+UPDATE\s+SET\b)(.*?)(\bWHERE\b|\bRETURNING\b|$)", re.IGNORECASE | re.DOTALL
)
_IDENTIFIER = re.compile(r"(?<![.\w\":])([A-Za-z_]\w*)\b(?!\s*[.(])")
_KEYWORDS = frozenset(
    {
        *("and", "or", "not", "is", "null", "in", "case", "when", "then", "else", "end"),
        *("excluded", "true", "false", "like", "ilike", "between", "collate", "cast", "as"),
        "coalesce",
    }
)


def _split_literals(sql: str) -> list[tuple[bool, str]]:
    """(is_literal, text) pieces, so rewrites never touch the inside of a string or name."""
    pieces: list[tuple[bool, str]] = []
    at = 0
    for match in _LITERAL.finditer(sql):
        pieces.append((False, sql[at : match.start()]))
        pieces.append((True, match.group(0)))
        at = match.end()
    pieces.append((False, sql[at:]))
    return pieces


def _code(text: str) -> str:
    text = _LIKE.sub(lambda m: f'COLLATE "C" {m.group(1) or ""}ILIKE', text)
    text = _NOCASE.sub('COLLATE "nocase"', text)
    text = _JSON_IN.sub(r"CAST(\1 AS text)\2json_each(", text)
    text = _FUNCTIONS.sub(lambda m: f"usher_{m.group(1).lower()}(", text)
    text = _LIMIT.sub(r"LIMIT NULLIF(\1, -1)", text)
    text = _PARAM_IS_NULL.sub(r"CAST(\1 AS text) IS \2NULL", text)
    text = _IS_PARAM.sub(
        lambda m: f"IS {'' if m.group(1) else 'NOT '}DISTINCT FROM {m.group(2)}", text
    )
    text = text.replace("%", "%%")
    text = _NUMBERED.sub(r"%(_\1)s", text).replace("?", "%s")
    return _NAMED.sub(r"%(\1)s", text)


def _qualify_upsert(sql: str) -> str:
    """`ON CONFLICT … DO UPDATE SET a = a + 1` → `SET a = "t".a + 1` (see the module doc)."""
    table = _INSERT_TABLE.match(sql)
    if table is None:
        return sql
    name = table.group(1)

    def assignments(match: re.Match[str]) -> str:
        parts = []
        for assignment in _top_level_split(match.group(2)):
            target, _, value = assignment.partition("=")
            qualified = _IDENTIFIER.sub(
                lambda m: (
                    m.group(1) if m.group(1).lower() in _KEYWORDS else f'"{name}".{m.group(1)}'
                ),
                value,
            )
            parts.append(f"{target}={qualified}")
        return f"{match.group(1)}{','.join(parts)}{match.group(3)}"

    return _UPSERT_SET.sub(assignments, sql, count=1)


def _top_level_split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _skip_locked(sql: str) -> str:
    """A claim's inner `SELECT id FROM t … LIMIT n)` gets `FOR UPDATE SKIP LOCKED`."""
    update = re.match(r"^\s*UPDATE\s+(\w+)\b", sql, re.IGNORECASE)
    if update is None:
        return sql
    table = update.group(1)
    inner = re.search(rf"\bid\s+IN\s*\(\s*SELECT\s+id\s+FROM\s+{table}\b", sql, re.IGNORECASE)
    if inner is None:
        return sql
    start = sql.index("(", inner.start())
    depth, at = 1, start + 1
    while at < len(sql) and depth:
        depth += {"(": 1, ")": -1}.get(sql[at], 0)
        at += 1
    close = at - 1
    body = sql[start + 1 : close]
    if not re.search(r"\bLIMIT\b", body, re.IGNORECASE):
        return sql
    return f"{sql[:close]} FOR UPDATE SKIP LOCKED{sql[close:]}"


_SUBQUERY = re.compile(r"\bFROM\s*\(\s*SELECT\b", re.IGNORECASE)
_ALIASED = re.compile(r"\s*(AS\b|(?!(WHERE|GROUP|ORDER|LIMIT|UNION|JOIN|LEFT|INNER|ON)\b)\w)", re.I)


def _alias_subqueries(sql: str) -> str:
    """`FROM (SELECT …)` needs a name on PostgreSQL before 16: give it one."""
    for number, match in enumerate(reversed(list(_SUBQUERY.finditer(sql)))):
        start = sql.index("(", match.start())
        depth, at = 1, start + 1
        while at < len(sql) and depth:
            depth += {"(": 1, ")": -1}.get(sql[at], 0)
            at += 1
        if not _ALIASED.match(sql, at):
            sql = f"{sql[:at]} AS usher_from_{number}{sql[at:]}"
    return sql


@functools.lru_cache(maxsize=4096)
def to_postgres(sql: str) -> str:
    """SQLite's statement `sql` as PostgreSQL's (see the module doc for each rule)."""
    or_ignore = bool(_OR_IGNORE.search(sql))
    if or_ignore:
        sql = _OR_IGNORE.sub("INSERT INTO", sql, count=1)
    sql = _qualify_upsert(sql)
    out = "".join(
        text.replace("%", "%%") if literal else _code(text)
        for literal, text in _split_literals(sql)
    )
    if or_ignore:
        returning = _RETURNING.search(out)
        if returning:
            out = f"{out[: returning.start()]}ON CONFLICT DO NOTHING {out[returning.start() :]}"
        else:
            out = f"{out.rstrip().rstrip(';')} ON CONFLICT DO NOTHING"
    return _alias_subqueries(_skip_locked(out))


def parameters(sql: str, params: Sequence[Any] | dict[str, Any]) -> Any:
    """The parameters for `to_postgres(sql)`: numbered ones (`?1`) become names (`_1`)."""
    if isinstance(params, dict) or not _NUMBERED.search(sql):
        return params or ()
    return {f"_{number}": value for number, value in enumerate(params, 1)}


def inserts_into(sql: str) -> str | None:
    """The table an INSERT statement writes, or None for any other statement."""
    match = _INSERT_TABLE.match(sql)
    return match.group(1) if match else None


def has_returning(sql: str) -> bool:
    return bool(_RETURNING.search(sql))
