"""Keys and admins for the SSH console tests."""

from __future__ import annotations

from pathlib import Path

import asyncssh


def new_key(comment: str = "") -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519", comment=comment or None)


def public_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode("ascii")


def write_public(key: asyncssh.SSHKey, path: Path) -> Path:
    path.write_text(public_line(key))
    return path
