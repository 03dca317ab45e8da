"""Telling systemd how `usher serve` is doing (`Type=notify` in deploy/usher.service).

The sd_notify protocol is one datagram to the socket named by `$NOTIFY_SOCKET`: `READY=1` once
the server listens and its workers run, `STOPPING=1` when a stop begins. Without the variable
(not under systemd, or another `Type=`) nothing is sent. No libsystemd needed.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable

__all__ = ["notify", "notify_ready"]


def notify(state: str) -> bool:
    """Send `state` (e.g. `READY=1`) to systemd; False when there is no one to tell."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True


async def notify_ready(started: Callable[[], bool], status: str) -> None:
    """Send READY=1 (with a STATUS line) once `started()` is true (uvicorn's `server.started`:
    the socket accepts and the app's startup ran)."""
    while not started():
        await asyncio.sleep(0.05)
    notify(f"READY=1\nSTATUS={status}")
