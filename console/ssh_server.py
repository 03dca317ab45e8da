"""The console over SSH: `usher serve --ssh-port N` serves each registered admin a console.

Only public-key authentication against the admins registry (`store.accounts.admins`); no shell,
exec, SFTP/SCP, port forwarding, agent or X11. Each session is a child process
(`usher console --no-server`) on its own pty, with the admin's identity in its environment
(`USHER_ADMIN`, `USHER_ADMIN_KEY`, `USHER_ADMIN_PEER`; the child checks them against the
database and takes the role from there). A child per session isolates admins from each other and
from the signup server: a crash, a stuck screen or a vanished client ends one process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import struct
import sys
import termios
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

import asyncssh

from store import Settings, Store
from store.accounts.admins import Admin, admin_by_fingerprint, list_admins
from store.domain.text import clean_line
from store.service.request_limits import count, refused_for
from store.service.supervise import Supervisor

log = logging.getLogger("usher.ssh")

LOGIN_TIMEOUT = 30.0
FAILURE_LIMIT = 10
"""Unknown keys one peer address may offer in a minute, across every server process
(`store.service.request_limits`); then each of its keys is refused unread until the minute
passes."""
HANGUP_GRACE = 5.0
KILL_AFTER = 2.0
"""Seconds a console has to exit after the server hangs up on it before it is killed: a server
started under `nohup` passes its ignored SIGHUP on to every console it starts."""
STRIPPED_ENV = ("SUDO_USER", "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY", "USHER_ADMIN")


class SshStartFailed(Exception):
    """The SSH server could not start (a busy port, an unreadable host key)."""


def host_key_path(store: Store) -> Path:
    """Beside the database, private to the service account: `usher.db.ssh-host-key`."""
    db = Path(store.path)
    return db.with_name(db.name + ".ssh-host-key")


def load_host_key(path: Path) -> asyncssh.SSHKey:
    """Read the host key, generating it (mode 0600) on first start."""
    if not path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519", comment="usher host key")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.export_private_key())
        return key
    try:
        return asyncssh.read_private_key(path)
    except (OSError, asyncssh.KeyImportError) as error:
        raise SshStartFailed(f"cannot read the SSH host key {str(path)!r}: {error}") from None


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows or 24, cols or 80, 0, 0))


class ConsoleSession:
    """One admin's console: a child process on a pty, bytes pumped both ways."""

    def __init__(
        self, process: asyncssh.SSHServerProcess[bytes], admin: Admin, peer: str, argv: list[str]
    ) -> None:
        self.process, self.admin, self.peer, self.argv = process, admin, peer, argv
        self.child: asyncio.subprocess.Process | None = None
        self.farewell = ""
        self._master = -1

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
        env.update(
            TERM=self.process.term_type or "xterm-256color",
            USHER_ADMIN=self.admin.name,
            USHER_ADMIN_KEY=self.admin.fingerprint,
            USHER_ADMIN_PEER=self.peer,
        )
        return env

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        self._master = master
        cols, rows, _, _ = self.process.term_size
        _set_size(master, cols, rows)
        try:
            self.child = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=self._env(),
                start_new_session=True,
            )
        finally:
            os.close(slave)
        output_done = asyncio.Event()

        def readable() -> None:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side of the pty
                data = b""
            if not data:
                loop.remove_reader(master)
                output_done.set()
                return
            with contextlib.suppress(Exception):  # a client already gone
                self.process.stdout.write(data)

        loop.add_reader(master, readable)
        pump = asyncio.create_task(self._pump_input(master))
        child_exit = asyncio.create_task(self.child.wait())
        await asyncio.wait({pump, child_exit}, return_when=asyncio.FIRST_COMPLETED)
        if not child_exit.done():  # the client went away (EOF or lost connection)
            self.hang_up()
            try:
                await asyncio.wait_for(asyncio.shield(child_exit), HANGUP_GRACE)
            except TimeoutError:
                self._signal(signal.SIGKILL)
                await child_exit
        else:
            with contextlib.suppress(TimeoutError):  # the child's last screen (alt-screen off)
                await asyncio.wait_for(output_done.wait(), 1.0)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
        loop.remove_reader(master)
        with contextlib.suppress(OSError):
            os.close(master)
        with contextlib.suppress(Exception):
            if self.farewell:
                self.process.stdout.write(f"\r\n{self.farewell}\r\n".encode())
            self.process.exit(child_exit.result() if child_exit.result() >= 0 else 1)

    async def _pump_input(self, master: int) -> None:
        while True:
            try:
                data = await self.process.stdin.read(65536)
            except asyncssh.TerminalSizeChanged as change:
                _set_size(master, change.width, change.height)
                self._signal(signal.SIGWINCH)
                continue
            except (asyncssh.Error, OSError, BrokenPipeError):
                return
            if not data:
                return
            with contextlib.suppress(OSError):
                os.write(master, data)

    def _signal(self, signum: int) -> None:
        if self.child is not None and self.child.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.child.pid, signum)

    def hang_up(self) -> None:
        """End the child as a terminal hang-up does: close the pty master, SIGHUP its group."""
        with contextlib.suppress(OSError):
            if self._master >= 0:
                asyncio.get_running_loop().remove_reader(self._master)
        self._signal(signal.SIGHUP)

    def end(self, message: str) -> None:
        """End this session from the server's side (admin removed, server stopping)."""
        self.farewell = message
        self.hang_up()
        asyncio.get_running_loop().call_later(KILL_AFTER, self._signal, signal.SIGKILL)


class SshConsoleServer:
    """The asyncssh server, its sessions, and the watch that ends a removed admin's sessions."""

    def __init__(self, store: Store, settings: Settings, *, console_argv: list[str] | None = None):
        self.store, self.settings = store, settings
        self.sessions: set[ConsoleSession] = set()
        self.console_argv = console_argv or [
            sys.executable,
            "-m",
            "console",
            "console",
            "--no-server",
            "--db",
            store.path,
            "--public-url",
            settings.base_url,
        ]
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._watch: asyncio.Task[None] | None = None
        self.port = 0
        self.fingerprint = ""

    async def start(self) -> None:
        asyncssh.set_log_level(logging.WARNING)  # not a line per channel event in serve's log
        key = load_host_key(host_key_path(self.store))
        self.fingerprint = key.get_fingerprint("sha256")
        host = self.settings.ssh_host or self.settings.host
        try:
            self._acceptor = await asyncssh.create_server(
                lambda: _Gate(self),
                host,
                self.settings.ssh_port or 0,
                server_host_keys=[key],
                process_factory=self._session,
                encoding=None,
                allow_pty=True,
                agent_forwarding=False,
                x11_forwarding=False,
                allow_scp=False,
                line_editor=False,
                login_timeout=LOGIN_TIMEOUT,
                keepalive_interval=30,
                keepalive_count_max=3,
            )
        except OSError as error:
            raise SshStartFailed(
                f"cannot listen for SSH on {host}:{self.settings.ssh_port}: {error.strerror}"
            ) from None
        self.port = self._acceptor.get_port()
        # Supervised: a failed read (a busy database on a loaded machine) is logged and the
        # watch starts again, instead of leaving removed admins connected until shutdown.
        self._watch = asyncio.create_task(Supervisor().run("SSH admins watch", self._watch_admins))

    async def _session(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        admin: Admin | None = process.get_extra_info("usher_admin")
        peer = str(process.get_extra_info("usher_peer") or "")
        if process.command is not None or process.subsystem is not None or admin is None:
            process.stderr.write(b"usher: only the console is served here\r\n")
            process.exit(1)
            return
        if process.term_type is None:
            process.stderr.write(b"usher: the console needs a terminal (ssh -t)\r\n")
            process.exit(1)
            return
        session = ConsoleSession(process, admin, peer, self.console_argv)
        self.sessions.add(session)
        log.info("console opened for %s (%s) from %s", admin.name, admin.role, peer)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            log.info("console closed for %s from %s", admin.name, peer)

    async def _watch_admins(self) -> None:
        """End the sessions of admins removed, or whose role changed (they reconnect): once at
        the start (a restarted watch catches up on what it missed) and after every change."""
        async with self.store.feed.listening() as changes:
            await self._end_outdated_sessions()
            async for _ in changes:
                await self._end_outdated_sessions()

    async def _end_outdated_sessions(self) -> None:
        if not self.sessions:
            return
        live = {a.fingerprint: a for a in await list_admins(self.store)}
        for session in list(self.sessions):
            now = live.get(session.admin.fingerprint)
            if now is None:
                session.end("usher: your admin access was removed.")
            elif now.role != session.admin.role or now.name != session.admin.name:
                session.end(f"usher: your role is now {now.role}: connect again.")

    async def close(self, message: str = "usher: the server is shutting down.") -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch  # supervised: it never raises, only stops when cancelled
        if self._acceptor is not None:
            self._acceptor.close()
        for session in list(self.sessions):
            session.end(message)
        for _ in range(int(HANGUP_GRACE * 20)):
            if not self.sessions:
                break
            await asyncio.sleep(0.05)
        if self._acceptor is not None:
            await self._acceptor.wait_closed()


class _Gate(asyncssh.SSHServer):
    """Authentication: a registered admin's key, nothing else."""

    def __init__(self, server: SshConsoleServer) -> None:
        self.server = server
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = ""

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peername = conn.get_extra_info("peername")
        self.peer = clean_line(str(peername[0])) if peername else "unknown"

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        engine = self.server.store.engine
        if await refused_for(engine, "ssh-key", self.peer, FAILURE_LIMIT):
            return False
        admin = await admin_by_fingerprint(self.server.store, key.get_fingerprint("sha256"))
        if admin is None:
            await count(engine, "ssh-key", self.peer)
            log.warning("refused an unknown SSH key from %s", self.peer)
            return False
        assert self.conn is not None
        self.conn.set_extra_info(usher_admin=admin, usher_peer=self.peer)
        return True


@contextlib.asynccontextmanager
async def ssh_console(store: Store, settings: Settings, out: TextIO) -> AsyncIterator[None]:
    """`usher serve`'s companion: the SSH console for its lifetime (when a port is set)."""
    if settings.ssh_port is None:
        yield
        return
    from signup_server.serve import ServeFailed

    server = SshConsoleServer(store, settings)
    try:
        await server.start()
    except SshStartFailed as error:
        raise ServeFailed(str(error)) from None
    print(
        f"Usher SSH console on port {server.port} (host key {server.fingerprint})",
        file=out,
        flush=True,
    )
    try:
        yield
    finally:
        await server.close()
