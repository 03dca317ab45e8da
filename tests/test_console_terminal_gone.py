"""A plain `usher console` whose terminal goes away exits by itself, SIGHUP or not.

When a terminal window is killed, its pty is hung up: the kernel sends SIGHUP to the terminal's
session, and Textual ends. A console that never gets the SIGHUP (it was started under `nohup`,
or in a session of its own, as some multiplexers and job runners do) used to live on, spinning
on a terminal nobody reads at most of a core. Here the console runs on a real pty, in a session
of its own with SIGHUP ignored, and the pty's far end is closed."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
from pathlib import Path

from .helpers import ROOT, child_env, usher_command

DRAWN = b" Quit"
"""The footer's last key label: the console is up and has drawn its first screen."""
HANG_GUARD = 120
"""Seconds before the test gives up on the console (it fails then; the console never exits)."""


def _ignore_sighup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _read_until(master: int, wanted: bytes) -> bytes:
    seen = b""
    while wanted not in seen:
        ready, _, _ = select.select([master], [], [], HANG_GUARD)
        assert ready, f"the console drew nothing with {wanted!r}: {seen[-400:]!r}"
        seen += os.read(master, 65536)
    return seen


def test_a_console_whose_terminal_is_gone_exits_without_a_sighup(tmp_path: Path) -> None:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        usher_command("console", "--db", str(tmp_path / "usher.db"), "--no-server"),
        cwd=ROOT,
        env=child_env(TERM="xterm-256color"),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,  # no controlling terminal: nobody sends it a SIGHUP
        preexec_fn=_ignore_sighup,  # and it would ignore one, as under nohup
    )
    os.close(slave)
    try:
        _read_until(master, DRAWN)
        os.close(master)  # the terminal window is gone
        master = -1
        assert proc.wait(timeout=HANG_GUARD) != 0  # it ends, and says it did not end well
    finally:
        if master >= 0:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
