"""The operator's story of issue 23 with OpenSSH's own client, as an admin's laptop has it: keys
made by ssh-keygen, registered with `usher admins add`, `ssh -p PORT host` in a real terminal
(tmux), and each admin can do what their role allows — and only that."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .fixtures_ssh import sign_up_pending, start_serving, stop_serving
from .fixtures_users import status_of
from .helpers import run_usher
from .test_console_bursts_tmux import rows, send, start
from .test_console_tmux import capture, session_alive, wait_for

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(
        shutil.which("tmux") is None or shutil.which("ssh") is None,
        reason="tmux and openssh-client are installed by `make test`",
    ),
]
WAIT = 120.0
"""A console's first screen on a busy two-core machine (a child process's cold start)."""


@pytest.fixture
def panes() -> Iterator[list[str]]:
    """tmux session names; each is killed at the end."""
    names: list[str] = []
    yield names
    for name in names:
        if session_alive(name):
            subprocess.run(["tmux", "kill-session", "-t", name], check=False)


def ended(pane: str) -> None:
    deadline = time.monotonic() + WAIT
    while session_alive(pane):
        assert time.monotonic() < deadline, f"{pane} still open:\n{capture(pane)}"
        time.sleep(0.2)


def laptop_key(folder: Path, name: str) -> Path:
    """What an admin has on their laptop: an ed25519 key made by ssh-keygen."""
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def ssh_command(port: int, key: Path, known_hosts: Path) -> str:
    return shlex.join(
        [
            "ssh", "-tt", "-p", str(port), "-i", str(key), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=accept-new",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "127.0.0.1",
        ]
    )  # fmt: skip


def test_two_admins_with_openssh_each_do_what_their_role_allows(
    tmp_path: Path, panes: list[str]
) -> None:
    db = tmp_path / "usher.db"
    laptop = tmp_path / "laptop"
    laptop.mkdir(mode=0o700)
    keys = {name: laptop_key(laptop, name) for name in ("olga", "apu")}
    for name, role in (("olga", "owner"), ("apu", "approver")):
        pub = str(keys[name]) + ".pub"
        added = run_usher("admins", "add", name, "--key", pub, "--role", role, "--db", str(db))
        assert added.returncode == 0, added.stderr
    served = start_serving(db)
    try:
        sign_up_pending(served.url, db, "pat@example.org")
        known = laptop / "known_hosts"

        approver = f"usher-ssh-{uuid.uuid4().hex[:8]}"
        panes.append(approver)
        start(approver, ssh_command(served.ssh_port, keys["apu"], known))
        wait_for(approver, r"F11 Help", timeout=WAIT)
        # The host key the admin's ssh accepted is the one `usher serve` printed.
        listed = subprocess.run(
            ["ssh-keygen", "-l", "-f", str(known)], capture_output=True, text=True, check=True
        )
        assert served.host_fingerprint in listed.stdout

        send(approver, "F2")
        wait_for(approver, r"pat@example\.org", timeout=WAIT)
        send(approver, "a")
        assert rows(db, "SELECT email FROM users WHERE status = 'active'", 1, WAIT) == [
            ("pat@example.org",)
        ]
        # An approver may not erase: the console says which role it needs; nothing is erased.
        send(approver, "F8")
        wait_for(approver, r"pat@example\.org", timeout=WAIT)
        send(approver, "X")
        wait_for(approver, r"Erase user", timeout=WAIT)
        send(approver, "y")
        wait_for(approver, r"needs the owner\s+role", timeout=WAIT)
        assert status_of(db, "pat@example.org") == "active"

        owner = f"usher-ssh-{uuid.uuid4().hex[:8]}"
        panes.append(owner)
        start(owner, ssh_command(served.ssh_port, keys["olga"], known))
        wait_for(owner, r"F11 Help", timeout=WAIT)
        send(owner, "F3")
        wait_for(owner, r"n New", timeout=WAIT)
        send(owner, "n", "Autumn cohort", "C-s")
        assert rows(db, "SELECT label FROM invite_links WHERE label = 'Autumn cohort'", 1, WAIT)

        for pane in (approver, owner):
            send(pane, "F1", "q")  # Home, then quit (on Links `q` shows the QR code)
        for pane in (approver, owner):
            ended(pane)  # `q` ends the console, then ssh, then the pane
    finally:
        assert stop_serving(served) == 0
