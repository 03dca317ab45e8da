"""A throwaway PostgreSQL for the test run, and the store tests' fixture that runs them on both
engines.

One server per test run (Debian's `postgresql` package: `/usr/lib/postgresql/*/bin`), made by
`initdb` in a temporary folder and reached over a unix socket in that folder only (no TCP port
to collide with); as root it runs as the `postgres` user, which owns the folder. With
`USHER_TEST_POSTGRES_URL` set, that server is used instead (its user must be allowed to create
databases). Each test gets a fresh database copied from a template that already has the schema.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest

from store import Settings, Store, load_settings
from store.database.dialect import is_postgres_url, to_postgres
from store.database.engine_postgres import PgRow, marks_folder

URL_VARIABLE = "USHER_TEST_POSTGRES_URL"
TEMPLATE = "usher_template"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """One running server: `url(name)` is the URL of database `name` on it."""

    def __init__(
        self,
        base_url: str,
        stop: list[str] | None = None,
        folder: Path | None = None,
        start: list[str] | None = None,
    ):
        self.base_url = base_url
        self._stop = stop
        self._start = start
        self._folder = folder
        self._names = itertools.count(1)
        self._template_ready = False

    def url(self, database: str) -> str:
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(path="/" + database))

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def create_database(self, template: str | None = None) -> str:
        """A new empty (or template-copied) database; returns its URL."""
        name = f"usher_test_{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            if template:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            else:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop it, and this machine's lease marks for it (store.database.engine_postgres)."""
        name = urlsplit(url).path.lstrip("/")
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(marks_folder(url), ignore_errors=True)

    def halt(self) -> None:
        """Stop the server (`pg_ctl stop -m fast`: every session ends), keeping its data, to
        `resume` it later: a real restart. Only a server these fixtures started."""
        assert self._stop is not None, "not a server the tests started"
        subprocess.run(self._stop, check=True, capture_output=True, timeout=120)

    def resume(self) -> None:
        """Start the halted server again on its data, as before (`pg_ctl start -w`)."""
        assert self._start is not None, "not a server the tests started"
        subprocess.run(self._start, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        if self._stop is not None:
            subprocess.run([*self._stop], check=False, capture_output=True, timeout=60)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)


def _as_postgres(command: list[str]) -> list[str]:
    """Run as the `postgres` user when we are root (initdb and the server refuse root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def start_server() -> PostgresServer:
    """USHER_TEST_POSTGRES_URL's server, or a new one in a temporary folder."""
    given = os.environ.get(URL_VARIABLE)
    if given:
        return PostgresServer(given)
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError(
            "no PostgreSQL found in /usr/lib/postgresql/*/bin: run scripts/system-packages.sh "
            f"(apt-get install postgresql) or set {URL_VARIABLE}"
        )
    folder = Path(tempfile.mkdtemp(prefix="usher-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        user = "postgres"
    else:
        user = pwd.getpwuid(os.geteuid()).pw_name
    folder.chmod(0o700)
    subprocess.run(
        _as_postgres(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                user,
                "-E",
                "UTF8",
                "--locale=C",
            ]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = (
        f"-k {folder} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=200"
    )
    start = _as_postgres(
        [
            *(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log")),
            *("-o", options, "start"),
        ]
    )
    subprocess.run(start, check=True, capture_output=True, timeout=120)
    stop = _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
    url = f"postgresql://{user}@/postgres?host={quote(str(folder), safe='')}"
    return PostgresServer(url, stop=stop, folder=folder, start=start)


def _started_or_skipped() -> Iterator[PostgresServer]:
    """A throwaway server for a fixture, stopped after it; skipped where PostgreSQL cannot run
    (never in CI, where it must)."""
    try:
        server = start_server()
    except (RuntimeError, subprocess.CalledProcessError) as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not available here: {error}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    yield from _started_or_skipped()


@pytest.fixture
def own_postgres_server() -> Iterator[PostgresServer]:
    """A throwaway server of this test's own, which it may stop and start again (a real
    restart) without disturbing the run's shared server; skipped with USHER_TEST_POSTGRES_URL,
    whose server the tests cannot restart."""
    if os.environ.get(URL_VARIABLE):
        pytest.skip(f"a restart needs a server the tests start, not {URL_VARIABLE}'s")
    yield from _started_or_skipped()


@pytest.fixture
async def own_postgres_url(own_postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A database with the schema on the test's own server (`own_postgres_server`)."""
    async with postgres_database(own_postgres_server) as url:
        yield url


async def _template(server: PostgresServer) -> str:
    """A database with Usher's schema, made once, copied for each test (CREATE DATABASE
    TEMPLATE is far cheaper than running the schema each time)."""
    if not server._template_ready:
        with server.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        settings = load_settings({"db": server.url(TEMPLATE)}, environ={})
        opened = await Store.open(settings, watch=False)
        await opened.close()
        shutil.rmtree(marks_folder(settings.db), ignore_errors=True)
        server._template_ready = True
    return TEMPLATE


@contextlib.asynccontextmanager
async def postgres_database(server: PostgresServer) -> AsyncIterator[str]:
    """The URL of a fresh database with the schema, dropped afterwards."""
    url = server.create_database(await _template(server))
    try:
        yield url
    finally:
        server.drop_database(url)


ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(params=ENGINES, name="settings")
async def settings_on_both_engines(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Settings]:
    """`settings` for the store tests, once on a SQLite file and once on a fresh PostgreSQL
    database: a test module imports this to run every test on both engines."""
    if request.param == "sqlite":
        db = str(tmp_path / "usher.db")
        yield load_settings({"db": db, "port": 0, "rate_limit": 10_000}, environ={})
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    async with postgres_database(server) as url:
        yield load_settings({"db": url, "port": 0, "rate_limit": 10_000}, environ={})


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A fresh PostgreSQL database with the schema, for tests of the PostgreSQL side only."""
    async with postgres_database(postgres_server) as url:
        yield url


@pytest.fixture
def empty_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh PostgreSQL database without any table."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


def sync_rows(db: str | os.PathLike[str], sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Rows read by a separate connection, as another process would (SQLite's SQL on either
    engine; rows by index and by name)."""
    target = os.fspath(db)
    if not is_postgres_url(target):
        with contextlib.closing(sqlite3.connect(target)) as conn:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(sql, params).fetchall())
    with psycopg.connect(target, autocommit=True) as pg:
        cursor = pg.execute(to_postgres(sql), params)
        names = {column.name: i for i, column in enumerate(cursor.description or ())}
        return [PgRow(row, names) for row in cursor.fetchall()]


def sync_run(db: str | os.PathLike[str], sql: str, params: Sequence[Any] = ()) -> None:
    """One statement committed by a separate connection, as another process would."""
    target = os.fspath(db)
    if not is_postgres_url(target):
        with contextlib.closing(sqlite3.connect(target)) as conn, conn:
            conn.execute(sql, params)
        return
    with psycopg.connect(target, autocommit=True) as pg:
        pg.execute(to_postgres(sql), params)


def postgres_tables_mentioning(url: str, needle: str) -> list[tuple[str, str, Any]]:
    """(table, column, value) for every cell of every table of the database at `url` that
    contains `needle`, case-insensitively, whatever its column type."""
    found: list[tuple[str, str, Any]] = []
    lowered = needle.lower()
    with psycopg.connect(url, autocommit=True) as pg:
        tables = [
            str(row[0])
            for row in pg.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        ]
        for table in tables:
            cursor = pg.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from catalogue
            columns = [d.name for d in cursor.description or ()]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                    if isinstance(text, str) and lowered in text.lower():
                        found.append((table, column, value))
    return found


def postgres_files_mention(url: str, needle: str) -> bool:
    """Whether any file of the database at `url` (its tables, indexes and TOAST, written out by
    a CHECKPOINT first) holds `needle`'s bytes in any case. The test's own server only: its
    data folder must be readable here."""
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("CHECKPOINT")
        data = pg.execute("SHOW data_directory").fetchone()
        oid = pg.execute(
            "SELECT oid FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    assert data is not None and oid is not None
    folder = Path(str(data[0])) / "base" / str(oid[0])
    if not os.access(folder, os.R_OK):
        pytest.skip(f"the PostgreSQL server's files ({folder}) cannot be read here")
    wanted = needle.lower().encode()
    return any(wanted in path.read_bytes().lower() for path in folder.iterdir() if path.is_file())
