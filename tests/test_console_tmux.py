"""The console in a real terminal: tmux runs `usher console`, we read the screen and quit."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from .helpers import ROOT, child_env, usher_command

pytestmark = pytest.mark.tmux


def capture(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=False
    ).stdout


def wait_for(session: str, pattern: str, timeout: float = 30) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(session)
        match = re.search(pattern, screen)
        if match:
            return match
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} never appeared; screen was:\n{screen}")


def session_alive(session: str) -> bool:
    result = subprocess.run(["tmux", "has-session", "-t", session], capture_output=True)
    return result.returncode == 0


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by `make test`")
def test_console_in_a_real_terminal(tmp_path: Path) -> None:
    session = f"usher-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "exit-code"
    command = " ".join(
        [*usher_command("console", "--db", str(tmp_path / "usher.db"), "--port", "0")]
    )
    env = child_env(TERM="xterm-256color")
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "100",
            "-y",
            "30",
            f"cd {ROOT} && {command}; echo $? > {marker}",
        ],
        env=env,
        check=True,
    )
    try:
        match = wait_for(session, r"serving (http://127\.0\.0\.1:\d+)")
        url = match.group(1)
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:  # noqa: S310
            assert response.status == 200
        screen = capture(session)
        assert "Home" in screen and "No one here yet" in screen
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker.read_text().strip() == "0"
    finally:
        if session_alive(session):
            subprocess.run(["tmux", "kill-session", "-t", session], check=False)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by `make test`")
def test_console_opens_beside_a_running_serve_instead_of_a_busy_port(tmp_path: Path) -> None:
    """`sudo -u usher usher console` on a database `usher serve` already serves, with the same
    port: the console opens without a server of its own and names the real one (issue 21); it
    used to start one that found the port busy."""
    from .helpers import start_serve

    db = tmp_path / "usher.db"
    proc, url = start_serve(db, "--public-url", "https://signup.example.org")
    found = re.search(r":(\d+)", url)
    assert found is not None, url
    port = found.group(1)
    session = f"usher-{uuid.uuid4().hex[:8]}"
    command = " ".join(usher_command("console", "--db", str(db), "--port", port))
    try:
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30",
             f"cd {ROOT} && {command}"],
            env=child_env(TERM="xterm-256color"),
            check=True,
        )  # fmt: skip
        wait_for(session, r"served by another process · https://signup\.example\.org", 60)
        assert "busy" not in capture(session)
    finally:
        if session_alive(session):
            subprocess.run(["tmux", "kill-session", "-t", session], check=False)
        proc.terminate()
        proc.communicate(timeout=60)
