"""Small helpers for tests: free ports, waiting for a condition, running `usher` as a process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def usher_command(*args: str) -> list[str]:
    """`usher …` through the interpreter running the tests (no PATH assumptions)."""
    return [sys.executable, "-m", "console", *args]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USHER_")}
    env.update(extra)
    return env


def run_usher(
    *args: str, stdin: str | None = None, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """`usher …` run to the end from the repository root, output captured; `env` goes on top of
    an environment without the caller's USHER_ settings."""
    return subprocess.run(
        usher_command(*args),
        cwd=ROOT,
        env=child_env(**env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_serve(db: Path | str, *extra: str, **env: str) -> tuple[subprocess.Popen[str], str]:
    """`usher serve --port 0` on `db`; returns the process and the URL it printed."""
    proc = subprocess.Popen(
        usher_command("serve", "--db", str(db), "--port", "0", *extra),
        cwd=ROOT,
        env=child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(http://\S+)", line)
    if not match:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"usher serve printed no URL: {line!r} {err[-2000:]!r}")
    return proc, match.group(1)


def stop_serves(servers: list[tuple[subprocess.Popen[str], str]]) -> list[str]:
    """SIGTERM each server, wait for it; the tracebacks any of them printed."""
    for proc, _ in servers:
        proc.send_signal(signal.SIGTERM)
    errors = []
    for proc, _ in servers:
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=10)
        if "Traceback" in (err or ""):
            errors.append(err[-3000:])
    return errors


@contextlib.contextmanager
def two_servers(db: Path | str, **env: str) -> Iterator[list[str]]:
    """Two `usher serve` processes on one database file (`env`: their USHER_* settings); their
    URLs. Each must stop cleanly, without a traceback."""
    servers = [start_serve(db, **env), start_serve(db, **env)]
    try:
        yield [url for _, url in servers]
    finally:
        for proc, _ in servers:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in servers:
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate(timeout=10)
            assert "Traceback" not in (err or ""), err[-3000:]


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, interval: float = 0.05
) -> None:
    """Wait until `check()` is true; fail the test with a clear message after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
