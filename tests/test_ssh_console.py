"""The console over SSH (issue 23): asyncssh's client against a real `usher serve --ssh-port`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import pyte
import pytest

from console.ssh_server import FAILURE_LIMIT

from .fixtures_ssh import new_key, start_serving, write_public
from .fixtures_ssh import sign_up_pending as signed_up_pending
from .fixtures_users import status_of
from .helpers import eventually, run_usher

F2 = b"\x1bOQ"
SCREEN_WAIT = 120.0
"""A console's first screen on a busy two-core machine (Textual's cold start)."""


@dataclass
class Served:
    proc: subprocess.Popen[str]
    db: Path
    url: str
    ssh_port: int
    host_fingerprint: str
    owner: asyncssh.SSHKey
    approver: asyncssh.SSHKey


def start(db: Path, *, under_nohup: bool = False) -> tuple[subprocess.Popen[str], str, int, str]:
    serving = start_serving(db, under_nohup=under_nohup)
    return serving.proc, serving.url, serving.ssh_port, serving.host_fingerprint


def add_admin(db: Path, name: str, role: str, key: asyncssh.SSHKey) -> None:
    pub = write_public(key, db.with_name(f"{name}.pub"))
    done = run_usher("admins", "add", name, "--key", str(pub), "--role", role, "--db", str(db))
    assert done.returncode == 0, done.stderr


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db = tmp_path_factory.mktemp("ssh") / "usher.db"
    owner, approver = new_key(), new_key()
    add_admin(db, "olga", "owner", owner)
    add_admin(db, "apu", "approver", approver)
    proc, url, port, fingerprint = start(db)
    try:
        yield Served(proc, db, url, port, fingerprint, owner, approver)
    finally:
        assert stop(proc) == 0


@contextlib.asynccontextmanager
async def connect(
    served: Served, key: asyncssh.SSHKey | None, **options: Any
) -> AsyncIterator[asyncssh.SSHClientConnection]:
    conn = await asyncssh.connect(
        "127.0.0.1",
        served.ssh_port,
        username="whoever",
        client_keys=[key] if key is not None else None,
        known_hosts=None,
        **options,
    )
    try:
        yield conn
    finally:
        conn.close()
        await conn.wait_closed()


class Screen:
    """What a console drew, as a terminal shows it (pyte), and the bytes it sent.

    Waits look at the drawn screen, not the byte stream: Textual styles a footer key apart
    from its label and redraws only what changed, so a phrase is rarely one run of bytes.
    """

    def __init__(self, process: asyncssh.SSHClientProcess[bytes], size: tuple[int, int]) -> None:
        self.process = process
        self.terminal = pyte.Screen(*size)
        self._stream = pyte.ByteStream(self.terminal)
        self.raw = b""

    def text(self) -> str:
        return "\n".join(self.terminal.display)

    async def _read(self) -> None:
        chunk = await self.process.stdout.read(65536)
        if not chunk:
            raise AssertionError(f"session ended; the screen showed:\n{self.text()}")
        self.raw += chunk
        self._stream.feed(chunk)

    async def _until(self, shown: Callable[[], bool], what: str, timeout: float) -> None:
        async def more() -> None:
            while not shown():
                await self._read()

        try:
            await asyncio.wait_for(more(), timeout)
        except TimeoutError:
            raise AssertionError(f"{what} not shown in {timeout} s:\n{self.text()}") from None

    async def wait_for(self, text: str, timeout: float = SCREEN_WAIT) -> None:
        """Until `text` is on the screen."""
        await self._until(lambda: text in self.text(), repr(text), timeout)

    async def wait_for_size(self, columns: int, lines: int, timeout: float = SCREEN_WAIT) -> None:
        """Until the console redrew for a new terminal size (it moved the cursor to the last
        line of that size)."""
        self.raw = b""
        self.terminal.resize(lines, columns)
        marker = f"\x1b[{lines};".encode()
        await self._until(lambda: marker in self.raw, f"a redraw at {columns}x{lines}", timeout)

    async def until_raw_matches(self, pattern: bytes, timeout: float = SCREEN_WAIT) -> None:
        """Until the console sent bytes matching `pattern` (an escape sequence, not text)."""
        await self._until(lambda: re.search(pattern, self.raw) is not None, repr(pattern), timeout)

    async def until_closed(self, timeout: float = SCREEN_WAIT) -> bytes:
        async def drain() -> None:
            while chunk := await self.process.stdout.read(65536):
                self.raw += chunk

        await asyncio.wait_for(drain(), timeout)
        await asyncio.wait_for(self.process.wait(), timeout)
        return self.raw


async def open_console(
    conn: asyncssh.SSHClientConnection, size: tuple[int, int] = (100, 30)
) -> Screen:
    process = await conn.create_process(term_type="xterm-256color", term_size=size, encoding=None)
    screen = Screen(process, size)
    await screen.wait_for("F11 Help")  # the footer: the first screen is drawn
    return screen


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


async def sign_up_pending(served: Served, email: str) -> None:
    await asyncio.to_thread(signed_up_pending, served.url, served.db, email)


def audit_actor(db: Path, action: str, subject: str) -> str:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT actor FROM audit WHERE action = ? AND subject = ?", (action, subject)
        ).fetchone()
    conn.close()
    assert row is not None, f"no {action} entry for {subject}"
    return str(row[0])


async def test_a_registered_key_gets_the_console_and_approves_a_web_signup(
    served: Served,
) -> None:
    await sign_up_pending(served, "pat@example.org")
    async with connect(served, served.approver) as conn:
        screen = await open_console(conn)
        # F2 and `a` in one burst, as a hurried admin types them: `a` waits for the table
        # (it used to answer "No one to approve here" when it came before the first load).
        screen.process.stdin.write(F2 + b"a")

        async def approved() -> bool:
            return status_of(served.db, "pat@example.org") == "active"

        await eventually(approved, timeout=SCREEN_WAIT)
        screen.process.stdin.write(b"q")
        await screen.until_closed()
    fingerprint = served.approver.get_fingerprint("sha256")
    assert audit_actor(served.db, "user_approved", "pat@example.org") == (
        f"apu (key {fingerprint}, ssh 127.0.0.1)"
    )


async def test_two_admins_at_once_see_each_others_approvals_live(served: Served) -> None:
    async with connect(served, served.owner) as first, connect(served, served.approver) as second:
        owner, approver = await open_console(first), await open_console(second)
        for screen in (owner, approver):
            screen.process.stdin.write(F2)
            await screen.wait_for("No one is waiting")
        await sign_up_pending(served, "quinn@example.org")
        for screen in (owner, approver):  # arrived by itself, in both consoles
            await screen.wait_for("quinn@example.org")
        approver.process.stdin.write(b"a")
        await owner.wait_for("No one is waiting")  # the other's decision, seen live
        assert status_of(served.db, "quinn@example.org") == "active"
        for screen in (owner, approver):
            screen.process.stdin.write(b"q")
            await screen.until_closed()


async def test_copy_reaches_the_admins_own_terminal_as_osc_52(served: Served) -> None:
    """`c` on Links sends the URL to the terminal of the admin who pressed it (over their SSH
    channel), as OSC 52, for their own clipboard."""
    made = run_usher(
        "links", "create", "--level", "member", "--label", "Copied over SSH",
        "--db", str(served.db), "--public-url", served.url,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    async with connect(served, served.owner) as conn:
        screen = await open_console(conn)
        screen.process.stdin.write(b"\x1bOR")  # F3
        await screen.wait_for("Copied over SSH")
        screen.raw = b""
        screen.process.stdin.write(b"c")
        osc_52 = rb"\x1b\]52;c;([A-Za-z0-9+/=]+)(\x07|\x1b\\)"
        await screen.until_raw_matches(osc_52)
        found = re.search(osc_52, screen.raw)
        assert found is not None
        copied = base64.b64decode(found.group(1)).decode()
        assert copied.startswith(f"{served.url}/join/")
        screen.process.stdin.write(b"\x1bOPq")  # F1 Home, then quit (on Links `q` is the QR code)
        await screen.until_closed()


async def test_unknown_keys_and_passwords_are_refused(served: Served) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(served, new_key()):
            pass
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(served, None, password="hunter2", agent_path=None):
            pass


async def test_exec_sftp_and_forwarding_are_refused(served: Served) -> None:
    async with connect(served, served.owner) as conn:
        result = await conn.run("cat /etc/passwd", encoding="utf-8")
        assert result.exit_status == 1
        assert "root:" not in str(result.stdout) + str(result.stderr)
        assert "only the console" in str(result.stderr)
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.start_sftp_client()
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.create_connection(asyncssh.SSHTCPSession, "127.0.0.1", 22)
        with pytest.raises(asyncssh.ChannelListenError):
            await conn.forward_remote_port("", 0, "127.0.0.1", 22)
        without_pty = await conn.run(encoding="utf-8")  # a shell request with no terminal
        assert without_pty.exit_status == 1


async def test_killing_one_client_leaves_the_other_and_the_signup_pages(served: Served) -> None:
    before = set(children(served.proc.pid))
    async with connect(served, served.owner) as keep:
        kept = await open_console(keep)
        doomed = await asyncssh.connect(
            "127.0.0.1", served.ssh_port, username="x", client_keys=[served.approver],
            known_hosts=None,
        )  # fmt: skip
        await open_console(doomed)
        assert len(set(children(served.proc.pid)) - before) == 2
        doomed.abort()  # the client vanishes (as with kill -9 of ssh)

        async def one_left() -> bool:
            return len(set(children(served.proc.pid)) - before) == 1

        await eventually(one_left, timeout=SCREEN_WAIT)
        kept.process.change_terminal_size(120, 40)  # the kept console still answers
        await kept.wait_for_size(120, 40)
        async with httpx.AsyncClient(base_url=served.url) as web:
            assert (await web.get("/healthz")).status_code == 200
        kept.process.change_terminal_size(100, 30)
        await kept.wait_for_size(100, 30)
        kept.process.stdin.write(b"q")
        await kept.until_closed()


async def test_a_removed_admins_session_ends(served: Served) -> None:
    key = new_key()
    add_admin(served.db, "rita", "manager", key)
    async with connect(served, key) as conn:
        screen = await open_console(conn)
        removed = run_usher("admins", "remove", "rita", "--db", str(served.db))
        assert removed.returncode == 0, removed.stderr
        assert b"your admin access was removed" in await screen.until_closed()
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(served, key):
            pass


async def test_shutdown_ends_sessions_with_a_message_and_the_host_key_is_private(
    tmp_path: Path,
) -> None:
    db = tmp_path / "usher.db"
    key = new_key()
    add_admin(db, "olga", "owner", key)
    proc, url, port, fingerprint = start(db)
    try:
        host_key = db.with_name("usher.db.ssh-host-key")
        assert os.stat(host_key).st_mode & 0o777 == 0o600
        assert asyncssh.read_private_key(host_key).get_fingerprint("sha256") == fingerprint
        served = Served(proc, db, url, port, fingerprint, key, key)
        async with connect(served, key) as conn:
            screen = await open_console(conn)
            proc.send_signal(signal.SIGTERM)
            assert b"the server is shutting down" in await screen.until_closed()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_a_server_started_under_nohup_still_ends_sessions_with_a_message(
    tmp_path: Path,
) -> None:
    """`nohup usher serve` ignores SIGHUP, and so does every console it starts: the hang-up alone
    ended nothing (a removed admin stayed in, shutdown cut sessions off without a word)."""
    db = tmp_path / "usher.db"
    olga, rita = new_key(), new_key()
    add_admin(db, "olga", "owner", olga)
    add_admin(db, "rita", "manager", rita)
    proc, url, port, fingerprint = start(db, under_nohup=True)
    try:
        served = Served(proc, db, url, port, fingerprint, olga, olga)
        async with connect(served, rita) as conn:
            screen = await open_console(conn)
            removed = run_usher("admins", "remove", "rita", "--db", str(db))
            assert removed.returncode == 0, removed.stderr
            assert b"your admin access was removed" in await screen.until_closed()
        async with connect(served, olga) as conn:
            screen = await open_console(conn)
            proc.send_signal(signal.SIGTERM)
            assert b"the server is shutting down" in await screen.until_closed()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def consoles_of(db: Path) -> list[int]:
    """Live (not zombie) console processes working on `db`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if str(db).encode() in command and b"console" in command and state != "Z":
                found.append(int(entry.name))
    return found


async def test_a_killed_servers_consoles_exit_by_themselves(tmp_path: Path) -> None:
    """A server killed outright cannot hang up: its session's console used to live on,
    spinning on a terminal nobody reads (three of them took a core and a half)."""
    db = tmp_path / "usher.db"
    key = new_key()
    add_admin(db, "olga", "owner", key)
    proc, url, port, fingerprint = start(db)
    try:
        served = Served(proc, db, url, port, fingerprint, key, key)
        async with connect(served, key) as conn:
            await open_console(conn)
            assert consoles_of(db), "the session's console runs"
            proc.kill()
            proc.wait()

            async def gone() -> bool:
                return not consoles_of(db)

            await eventually(gone, timeout=SCREEN_WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in consoles_of(db):
            os.kill(pid, signal.SIGKILL)


async def test_unknown_keys_are_rate_limited_per_peer(tmp_path: Path) -> None:
    db = tmp_path / "usher.db"
    key = new_key()
    add_admin(db, "olga", "owner", key)
    proc, url, port, fingerprint = start(db)
    try:
        served = Served(proc, db, url, port, fingerprint, key, key)
        for _ in range(FAILURE_LIMIT):
            with pytest.raises(asyncssh.PermissionDenied):
                async with connect(served, new_key()):
                    pass
        with pytest.raises(asyncssh.PermissionDenied):  # now even a good key, for a while
            async with connect(served, key):
                pass
    finally:
        assert stop(proc) == 0
