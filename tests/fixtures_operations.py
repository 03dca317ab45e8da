"""Fixtures for the operations tests (erasure, export, webhooks): settings with a webhook URL, a
store with a cheap hasher, and a real HTTP receiver on loopback that can fail on purpose."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest

from store import Settings, Store
from store.database.dialect import is_postgres_url

from .fixtures_postgres import postgres_tables_mentioning
from .helpers import cheap_hasher

SECRET = "whsec_" + "dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5YWJj"
"""A Standard Webhooks secret (`whsec_` + base64 of 33 bytes), as `usher webhooks secret` makes."""


class Received(msgspec.Struct, frozen=True):
    status: int
    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP server in a thread: answers 500 to the first `fail_first` POSTs, then 204.

    Every request is recorded with the status it got, so tests see failed attempts too.
    """

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    status = 500 if len(receiver.requests) < receiver.fail_first else 204
                    receiver.requests.append(
                        Received(status, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/usher"

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hooks = Receiver(fail_first=2)
    hooks.thread.start()
    try:
        yield hooks
    finally:
        hooks.server.shutdown()
        hooks.server.server_close()


def with_webhooks(settings: Settings, url: str) -> Settings:
    return msgspec.structs.replace(settings, webhook_url=url, webhook_secret=SECRET)


@pytest.fixture
async def hooked_store(settings: Settings, receiver: Receiver) -> AsyncIterator[Store]:
    """A store whose settings send webhooks to `receiver` (fails twice, then accepts)."""
    opened = await Store.open(with_webhooks(settings, receiver.url), hasher=cheap_hasher())
    try:
        yield opened
    finally:
        await opened.close()


def tables_mentioning(db: str | Path, needle: str) -> list[tuple[str, str, Any]]:
    """(table, column, value) for every cell of every table that contains `needle`,
    case-insensitively — whatever its column type (a SQLite file or a PostgreSQL URL)."""
    if is_postgres_url(str(db)):
        return postgres_tables_mentioning(str(db), needle)
    found: list[tuple[str, str, Any]] = []
    lowered = needle.lower()
    with sqlite3.connect(db) as conn:
        tables = [
            str(row[0])
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from schema
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                    if isinstance(text, str) and lowered in text.lower():
                        found.append((table, column, value))
    conn.close()
    return found


def file_mentions(path: Path, needle: str) -> bool:
    """Whether the raw bytes of `path` (and its -wal file) contain `needle` in any case."""
    data = b""
    for candidate in (path, path.with_name(path.name + "-wal")):
        if candidate.exists():
            data += candidate.read_bytes()
    return needle.lower().encode() in data.lower()
