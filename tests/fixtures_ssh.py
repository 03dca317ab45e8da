"""Keys and admins for the SSH console tests."""

from __future__ import annotations

import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import httpx

from .fixtures_security import csrf_from
from .fixtures_users import status_of
from .helpers import ROOT, child_env, run_usher, usher_command


def new_key(comment: str = "") -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519", comment=comment or None)


def public_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode("ascii")


def write_public(key: asyncssh.SSHKey, path: Path) -> Path:
    path.write_text(public_line(key))
    return path


@dataclass
class Serving:
    """A running `usher serve --ssh-port 0` and what it printed."""

    proc: subprocess.Popen[str]
    url: str
    ssh_port: int
    host_fingerprint: str


def _ignore_hangups() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def start_serving(db: Path, *, under_nohup: bool = False) -> Serving:
    """`usher serve` on free ports with the SSH console; returns once both are listening.
    `under_nohup`: started as `nohup usher serve` is, SIGHUP ignored (its children inherit it)."""
    proc = subprocess.Popen(
        usher_command("serve", "--db", str(db), "--port", "0", "--ssh-port", "0"),
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=_ignore_hangups if under_nohup else None,
    )
    assert proc.stdout is not None
    lines = proc.stdout.readline() + proc.stdout.readline()
    url = re.search(r"(http://\S+)", lines)
    ssh = re.search(r"SSH console on port (\d+) \(host key (SHA256:\S+)\)", lines)
    if not (url and ssh):
        proc.kill()
        raise AssertionError(f"usher serve printed {lines!r}")
    return Serving(proc, url.group(1), int(ssh.group(1)), ssh.group(2))


def stop_serving(serving: Serving) -> int:
    serving.proc.send_signal(signal.SIGTERM)
    return serving.proc.wait(timeout=60)


GOOD_PASSWORD = "correct horse battery staple"


def sign_up_pending(url: str, db: Path, email: str) -> None:
    """A stranger signs up through a new approval link: `email` ends up pending."""
    made = run_usher(
        "links", "create", "--level", "member", "--require-approval", "--no-confirm",
        "--db", str(db), "--public-url", url,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    path = "/join/" + made.stdout.strip().rsplit("/join/", 1)[1]
    with httpx.Client(base_url=url) as web:
        page = web.get(path)
        answer = web.post(
            path,
            data={
                "_csrf_token": csrf_from(page.text),
                "email": email,
                "first_name": "Pat",
                "last_name": "Lee",
                "password": GOOD_PASSWORD,
                "password_confirm": GOOD_PASSWORD,
            },
        )
        assert answer.status_code in (200, 303), answer.text[:500]
    assert status_of(db, email) == "pending"
