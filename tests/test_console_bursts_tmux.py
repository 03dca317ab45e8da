"""Typed-ahead keys in a real terminal: `usher console` in an 80x24 tmux pane, each form typed
in one `tmux send-keys` call (one burst), locally and over a real SSH connection to an sshd
this test starts on loopback. The rows created are exactly what was typed."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import ROOT, free_port, usher_command
from .test_console_tmux import capture, session_alive, wait_for

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by `make test`"),
]
SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


def rows(db: Path, sql: str, count: int, timeout: float = 60) -> list[tuple[object, ...]]:
    """The rows of `sql` once there are `count` (the console writes them in its own time)."""
    deadline = time.monotonic() + timeout
    found: list[tuple[object, ...]] = []
    while time.monotonic() < deadline:
        if db.exists():
            with sqlite3.connect(db) as connection:
                try:
                    found = [tuple(row) for row in connection.execute(sql)]
                except sqlite3.OperationalError:
                    found = []
            if len(found) >= count:
                return found
        time.sleep(0.2)
    raise AssertionError(f"{sql!r}: {found!r} after {timeout} s")


def send(session: str, *keys: str) -> None:
    """One `tmux send-keys` call: tmux writes the whole burst to the pane at once."""
    subprocess.run(["tmux", "send-keys", "-t", session, *keys], check=True)


@pytest.fixture
def pane() -> Iterator[str]:
    """A tmux session name; the session (80x24) is killed at the end."""
    session = f"usher-burst-{uuid.uuid4().hex[:8]}"
    yield session
    if session_alive(session):
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def start(session: str, command: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USHER_")}
    env["TERM"] = "xterm-256color"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command],
        env=env,
        check=True,
    )


def type_every_form(session: str, db: Path) -> None:
    """The issue's bursts, each in one send-keys call, and what each must have created."""
    wait_for(session, r"F6", timeout=60)
    send(session, "F6", "Cy", "Enter", "Young", "Enter", "cy@example.org", "Enter", "Dee")
    assert rows(db, "SELECT first_name, last_name, email FROM users", 1) == [
        ("Cy", "Young", "cy@example.org")
    ]
    wait_for(session, r"Added Cy Young")
    send(session, "BSpace", "BSpace", "BSpace")
    send(session, "Ann", "Tab", "Lee", "Tab", "ann.lee@example.org", "Enter")
    send(session, "Bo", "Tab", "Stone", "Tab", "bo@example.org", "Enter")
    assert rows(db, "SELECT first_name, last_name, email, level FROM users ORDER BY id", 3) == [
        ("Cy", "Young", "cy@example.org", "member"),
        ("Ann", "Lee", "ann.lee@example.org", "member"),
        ("Bo", "Stone", "bo@example.org", "member"),
    ]
    send(session, "F3", "n", "Spring cohort", "Enter", "n", "Wiki", "C-s")
    assert rows(db, "SELECT label FROM invite_links ORDER BY id", 2) == [
        ("Spring cohort",),
        ("Wiki",),
    ]
    send(session, "F4", "dee@example.org", "Enter", "eve@example.org", "C-s", "Enter")
    assert rows(db, "SELECT email FROM invitations ORDER BY email", 2) == [
        ("dee@example.org",),
        ("eve@example.org",),
    ]
    send(session, "F7", "Fay Lin,fay@example.org", "Enter", "Gus Roe,gus@example.org")
    send(session, "C-s", "Enter")
    assert rows(
        db,
        "SELECT email FROM users WHERE email IN ('fay@example.org', 'gus@example.org') ORDER BY id",
        2,
    ) == [("fay@example.org",), ("gus@example.org",)]
    assert rows(db, "SELECT count(*) FROM users", 1) == [(5,)], capture(session)


def console_command(db: Path) -> str:
    command = [*usher_command("console", "--db", str(db), "--no-server")]
    return f"cd {shlex.quote(str(ROOT))} && {shlex.join(command)}"


def test_bursts_in_a_local_terminal(pane: str, tmp_path: Path) -> None:
    db = tmp_path / "usher.db"
    start(pane, console_command(db))
    type_every_form(pane, db)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An OpenSSH server on 127.0.0.1 with its own host key, accepting one client key for
    this account; yields (port, client key)."""
    if SSHD is None:
        pytest.skip("sshd is not installed (scripts/system-packages.sh installs it)")
    if os.geteuid() != 0:
        pytest.skip("sshd for a loopback login is started as root here")
    keys = tmp_path / "ssh"
    keys.mkdir(mode=0o700)
    for name in ("host", "client"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True
        )
    (keys / "authorized_keys").write_text((keys / "client.pub").read_text())
    (keys / "authorized_keys").chmod(0o600)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    port = free_port()
    config = keys / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nHostKey {keys / 'host'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPidFile {keys / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nAcceptEnv TERM\n"
    )
    server = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config), "-p", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    _, err = server.communicate(timeout=5)
                    raise AssertionError(f"sshd did not start: {err}") from None
                time.sleep(0.1)
        yield port, keys / "client"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_bursts_over_a_real_ssh_connection(
    pane: str, tmp_path: Path, sshd: tuple[int, Path]
) -> None:
    port, key = sshd
    db = tmp_path / "usher.db"
    remote = f"TERM=xterm-256color {console_command(db)}"
    ssh = [
        "ssh", "-tt", "-p", str(port), "-i", str(key),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
        "root@127.0.0.1", remote,
    ]  # fmt: skip
    start(pane, shlex.join(ssh))
    type_every_form(pane, db)
