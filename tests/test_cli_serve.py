"""`usher serve` and the CLI's error handling, run as real processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from .helpers import ROOT, child_env, run_usher, start_serve, usher_command


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        return int(response.status), response.read()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_then_stops_cleanly(tmp_path: Path, signum: int) -> None:
    proc, url = start_serve(tmp_path / "usher.db")
    try:
        status, body = get(f"{url}/healthz")
        assert status == 200
        assert b'"status":"ok"' in body.replace(b" ", b"")
        proc.send_signal(signum)
        assert proc.wait(timeout=15) == 0
        _, err = proc.communicate(timeout=5)
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_on_a_busy_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = run_usher("serve", "--db", str(tmp_path / "u.db"), "--port", str(port), timeout=30)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "already in use" in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["serve", "--db", "/nonexistent/dir/u.db", "--port", "0"], {}, "does not exist"),
        (["console", "--db", "/nonexistent/dir/u.db"], {}, "does not exist"),
        (["serve", "--port", "0"], {"USHER_PORT": "x", "USHER_RATE_LIMIT": "lots"}, "rate_limit"),
        (["serve", "--host", "0.0.0.0"], {}, "public_url is required"),  # noqa: S104
    ],
)
def test_unusable_settings_exit_2_without_traceback(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        usher_command(*args),
        cwd=tmp_path,
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr


def test_not_a_database_exit_2(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"not sqlite at all " * 200)
    result = run_usher("serve", "--db", str(bogus), "--port", "0", timeout=30)
    assert result.returncode == 2
    assert "not a database" in result.stderr


def test_serve_and_console_store_share_the_database(tmp_path: Path) -> None:
    """Two processes on one file: serve keeps running while another opens and migrates it."""
    db = tmp_path / "shared.db"
    proc, url = start_serve(db)
    try:
        result = subprocess.run(
            [*usher_command("serve", "--db", str(db), "--port", url.rsplit(":", 1)[1])],
            cwd=ROOT,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2  # same port: refused, first server untouched
        assert get(f"{url}/healthz")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_store_imports_no_ui_or_web_framework() -> None:
    code = (
        "import sys, store, store.database.core, store.domain.passwords, store.database.changes\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'litestar', 'uvicorn', 'rich', 'console', 'signup_server')]\n"
        "print(bad); raise SystemExit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [usher_command()[0], "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout


def test_help_lists_commands() -> None:
    result = run_usher("--help", timeout=30)
    assert result.returncode == 0
    assert "serve" in result.stdout and "console" in result.stdout
    time.sleep(0)
