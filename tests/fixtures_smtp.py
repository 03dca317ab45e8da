"""A real SMTP server for tests: aiosmtpd's `Controller` on a loopback port, with a handler that
records what arrives and can be told to misbehave (4xx, 5xx for a recipient, down).

Also: `deliver_until` runs the delivery worker until a condition holds, and
`worker_process_main` is what a second *process* runs to deliver from the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import logging
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from store import Settings, Store
from store.messaging.delivery import run_delivery
from store.messaging.outbox import enqueue

from .helpers import eventually, free_port

FAST: dict[str, Any] = {"poll": 0.05, "base_delay": 0.02, "max_delay": 0.1}
"""Delivery knobs that keep tests quick (retries after tens of milliseconds)."""


class Received(msgspec.Struct):
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    session: int

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class Gate:
    """Holds the relay's answer to DATA until the test says so (the relay runs in its own thread
    and loop, so these are threading events; await them with `asyncio.to_thread`)."""

    def __init__(self, passes: int = 0) -> None:
        self.passes = passes
        """Messages answered at once before the gate starts holding."""
        self.arrived = threading.Event()
        """Set when a message's DATA reached the relay and is being held."""
        self.release = threading.Event()

    async def wait_arrived(self) -> None:
        assert await asyncio.to_thread(self.arrived.wait, 30), "no DATA reached the relay"


class RecordingHandler:
    """Records every accepted message, and the connections (sessions) that sent them."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.temporary_failures = 0
        """Answer DATA with a 451 this many more times."""
        self.reject: set[str] = set()
        """Recipients answered with a 550 at RCPT."""
        self.data_delay = 0.0
        self.gate: Gate | None = None
        """When set, DATA is answered only once the gate is released."""
        self._sessions: dict[int, Session] = {}
        self._lock = threading.Lock()

    def _session_number(self, session: Session) -> int:
        with self._lock:
            for number, known in self._sessions.items():
                if known is session:
                    return number
            number = len(self._sessions) + 1
            self._sessions[number] = session
            return number

    async def handle_RCPT(
        self,
        server: Any,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        self._session_number(session)
        if address.lower() in self.reject:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        gate = self.gate
        if gate is not None and gate.passes > 0:
            gate.passes -= 1
        elif gate is not None:
            gate.arrived.set()
            await asyncio.to_thread(gate.release.wait, 60)
        with self._lock:
            if self.temporary_failures > 0:
                self.temporary_failures -= 1
                return "451 4.3.0 Mailbox busy, try again later"
        content = envelope.original_content or b""
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(content),
                session=self._session_number(session),
            )
        )
        return "250 2.0.0 Message accepted"

    @property
    def connections(self) -> int:
        """Connections that got as far as naming a recipient."""
        return len(self._sessions)


class SmtpServer:
    """One loopback SMTP server on a fixed port that can be stopped ("down") and started again."""

    def __init__(self, port: int | None = None, **smtp_options: Any) -> None:
        self.port = port or free_port()
        self.handler = RecordingHandler()
        self.smtp_options = smtp_options
        self.ssl_context: ssl.SSLContext | None = smtp_options.pop("ssl_context", None)
        self._controller: Controller | None = None

    def start(self) -> None:
        if self._controller is None:
            controller = Controller(
                self.handler,
                hostname="127.0.0.1",
                port=self.port,
                ssl_context=self.ssl_context,
                **self.smtp_options,
            )
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        scheme = "smtps" if self.ssl_context else "smtp"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def received_by(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


class Inbox:
    """The messages one `SmtpServer` accepted, parsed, with the lookups the flow tests need."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    @property
    def messages(self) -> list[EmailMessage]:
        return [received.message for received in self.server.received]

    def find(self, to: str, subject_words: str) -> EmailMessage | None:
        for message in self.messages:
            if to in str(message["To"]) and subject_words in str(message["Subject"]):
                return message
        return None

    @staticmethod
    def link_in(message: EmailMessage, route: str) -> str:
        """The first `{public_url}/{route}/…` link in the plain-text part."""
        body = message.get_body(preferencelist=("plain",))
        assert body is not None, "no plain-text part"
        match = re.search(rf"https?://\S+/{route}/[A-Za-z0-9_-]+", body.get_content())
        assert match, f"no /{route}/ link in the email"
        return match.group(0)


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> tuple[Inbox, int]:
    """A real SMTP server (aiosmtpd) on a free loopback port, read as an inbox."""
    return Inbox(smtp_server), smtp_server.port


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def with_smtp(settings: Settings, url: str, **changes: Any) -> Settings:
    return msgspec.structs.replace(settings, smtp_url=url, **changes)


@pytest.fixture
async def mail_store(settings: Settings, smtp_server: SmtpServer) -> AsyncIterator[Store]:
    """A store whose settings point at the test's SMTP server."""
    store = await Store.open(with_smtp(settings, smtp_server.url))
    try:
        yield store
    finally:
        await store.close()


async def queue_messages(
    store: Store, recipients: list[str], *, kind: str = "test", **values: Any
) -> list[int]:
    """Enqueue one message per recipient in one transaction; returns their outbox ids."""
    ids = []
    async with store.write() as tx:
        for recipient in recipients:
            ids.append(
                await enqueue(
                    tx,
                    store.settings,
                    to=recipient,
                    kind=kind,
                    values={"sent_by": "tests", **values},
                )
            )
    return ids


async def statuses(store: Store) -> dict[int, str]:
    rows = await store.engine.fetchall("SELECT id, status FROM outbox ORDER BY id")
    return {int(row["id"]): str(row["status"]) for row in rows}


async def deliver_until(
    store: Store,
    condition: Callable[[], Awaitable[bool]],
    *,
    timeout: float = 10.0,
    **options: Any,
) -> None:
    """Run the delivery worker until `condition()` holds, then stop it cleanly."""
    stop = asyncio.Event()
    worker = asyncio.create_task(run_delivery(store, stop_event=stop, **{**FAST, **options}))
    try:
        await eventually(condition, timeout=timeout)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)


def all_status(store: Store, wanted: str, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        current = await statuses(store)
        return len(current) == count and all(status == wanted for status in current.values())

    return check


# ---------------------------------------------------------------- a second process


def worker_process_main() -> None:
    """Deliver from the database in USHER_DB until USHER_TEST_EXPECT messages are sent (or a
    time limit passes). Logs go to stderr; `mail #N (kind) sent` lines count our sends."""
    from store import load_settings

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")

    async def main() -> None:
        expect = int(os.environ["USHER_TEST_EXPECT"])
        settings = load_settings()
        async with await Store.open(settings) as store:
            stop = asyncio.Event()
            worker = asyncio.create_task(run_delivery(store, stop_event=stop, batch=3, **FAST))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                sent = await store.engine.scalar(
                    "SELECT count(*) FROM outbox WHERE status = 'sent'"
                )
                if int(sent) >= expect:
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await worker

    asyncio.run(main())


def start_worker_process(root: Path, db: str, smtp_url: str, expect: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USHER_")}
    env.update(USHER_DB=db, USHER_SMTP_URL=smtp_url, USHER_TEST_EXPECT=str(expect))
    return subprocess.Popen(
        [sys.executable, "-c", "from tests.fixtures_smtp import worker_process_main as m; m()"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ---------------------------------------------------------------- TLS and AUTH


def make_certificate(folder: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 made with the openssl tool, or None without it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    result = subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        return None
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class PasswordCheck:
    """aiosmtpd authenticator accepting one user name and password."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user.encode()
        self.password = password.encode()
        self.attempts: list[str] = []

    def __call__(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.attempts.append(data.login.decode())
            if data.login == self.user and data.password == self.password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@contextlib.contextmanager
def running(server: SmtpServer) -> Iterator[SmtpServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
