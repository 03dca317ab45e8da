"""`usher check`: each item of the checklist against the real thing - a SQLite file, aiosmtpd
(with and without AUTH), a local HTTP receiver - and the exit status (2 when something fails)."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from store.domain.clock import db_now

from .fixtures_smtp import Inbox, PasswordCheck, SmtpServer, running
from .helpers import free_port, run_usher


def check(db: Path, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
    """`usher check --json` as a process; (exit status, the checks by name)."""
    result = run_usher(
        "check", "--db", str(db), "--json", *args, stdin=None, timeout=60, variables=env
    )
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] == (result.returncode == 0)
    return result.returncode, {c["name"]: c for c in report["checks"]}


def test_a_fresh_install_passes(tmp_path: Path) -> None:
    result = run_usher("check", "--db", str(tmp_path / "usher.db"))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "Everything checked works."
    names = [line[6:].split("  ")[0] for line in lines[:-1]]
    assert names[:3] == ["database", "file modes", "clock"]
    assert "takes writes" in lines[0]
    code, checks = check(tmp_path / "usher.db")
    assert code == 0
    assert checks["file modes"]["detail"].startswith("usher.db 0600")
    assert checks["SMTP"]["status"] == "skip"
    assert checks["webhooks"]["status"] == "skip"
    assert checks["trusted proxies"]["status"] == "ok"


def test_a_database_others_can_read_fails(tmp_path: Path) -> None:
    db = tmp_path / "usher.db"
    assert check(db)[0] == 0
    db.chmod(0o644)
    code, checks = check(db)
    assert code == 2
    assert checks["file modes"]["status"] == "fail"
    assert "chmod 600 usher.db" in checks["file modes"]["detail"]


def test_a_database_that_takes_no_writes_fails(tmp_path: Path) -> None:
    db = tmp_path / "usher.db"
    assert check(db)[0] == 0
    holder = sqlite3.connect(db)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock throughout
        code, checks = check(db)
    finally:
        holder.rollback()
        holder.close()
    assert code == 2
    assert checks["database"]["status"] == "fail"


def test_a_clock_behind_the_database_fails(tmp_path: Path) -> None:
    db = tmp_path / "usher.db"
    assert check(db)[0] == 0
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "INSERT INTO audit (at, actor, action) VALUES (?, 'tester', 'test')",
            (db_now(timedelta(hours=3)),),
        )
    code, checks = check(db)
    assert code == 2
    assert checks["clock"]["status"] == "fail"
    assert "behind the database's newest entry" in checks["clock"]["detail"]


def test_public_url_and_proxy_advice_are_warnings_not_failures(tmp_path: Path) -> None:
    code, checks = check(tmp_path / "u.db", USHER_PUBLIC_URL="http://usher.example.org")
    assert code == 0
    assert checks["public URL"]["status"] == "warn"
    assert "not https" in checks["public URL"]["detail"]
    code, checks = check(tmp_path / "u.db", USHER_PUBLIC_URL="https://usher.example.org")
    assert (code, checks["public URL"]["status"]) == (0, "ok")
    assert checks["trusted proxies"]["status"] == "warn"
    code, checks = check(
        tmp_path / "u.db",
        USHER_PUBLIC_URL="https://usher.example.org",
        USHER_TRUSTED_PROXIES="127.0.0.1,::1",
    )
    assert checks["trusted proxies"] == {
        "name": "trusted proxies",
        "status": "ok",
        "detail": "127.0.0.1/32, ::1/128",
    }


# --- SMTP ----------------------------------------------------------------------------------------


def test_smtp_connects_and_says_ehlo_without_sending(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    code, checks = check(tmp_path / "u.db", USHER_SMTP_URL=f"smtp://127.0.0.1:{port}")
    assert code == 0, checks
    assert checks["SMTP"]["status"] == "ok"
    assert "connected, EHLO" in checks["SMTP"]["detail"]
    assert inbox.messages == []


def test_send_to_delivers_a_test_message(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    code, checks = check(
        tmp_path / "u.db",
        "--send-to",
        "ops@example.org",
        USHER_SMTP_URL=f"smtp://127.0.0.1:{port}",
        USHER_ORG="Acme",
    )
    assert code == 0, checks
    assert "test message accepted for ops@example.org" in checks["SMTP"]["detail"]
    assert len(inbox.messages) == 1
    assert inbox.messages[0]["Subject"] == "Acme: test message from usher check"
    code, checks = check(
        tmp_path / "u.db",
        "--send-to",
        "ops@example.org\r\nBcc: x@example.org",
        USHER_SMTP_URL=f"smtp://127.0.0.1:{port}",
    )
    assert code == 2
    assert len(inbox.messages) == 1


def test_unreachable_smtp_fails(tmp_path: Path) -> None:
    code, checks = check(tmp_path / "u.db", USHER_SMTP_URL=f"smtp://127.0.0.1:{free_port()}")
    assert code == 2
    assert checks["SMTP"]["status"] == "fail"
    assert "cannot connect" in checks["SMTP"]["detail"]


@pytest.fixture
def smtp_with_auth() -> Iterator[int]:
    with running(
        SmtpServer(authenticator=PasswordCheck("bob", "hunter22"), auth_require_tls=False)
    ) as server:
        yield server.port


def test_smtp_auth_is_tried_and_a_wrong_password_fails(tmp_path: Path, smtp_with_auth: int) -> None:
    port = smtp_with_auth
    code, checks = check(
        tmp_path / "u.db", USHER_SMTP_URL=f"smtp://bob:hunter22@127.0.0.1:{port}?insecure=1"
    )
    assert code == 0, checks
    assert checks["SMTP"]["detail"].endswith("connected, EHLO, AUTH")
    code, checks = check(
        tmp_path / "u.db", USHER_SMTP_URL=f"smtp://bob:wrong@127.0.0.1:{port}?insecure=1"
    )
    assert code == 2
    assert "sign-in refused" in checks["SMTP"]["detail"]
    assert "wrong" not in json.dumps(checks)  # the password is never printed


# --- webhooks ------------------------------------------------------------------------------------


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(405)  # a real receiver only takes signed POSTs: it still answers
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def test_the_webhook_endpoint_must_answer(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    secret = "whsec_" + "a" * 40
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        code, checks = check(tmp_path / "u.db", USHER_WEBHOOK_URL=url, USHER_WEBHOOK_SECRET=secret)
        assert code == 0, checks
        assert checks["webhooks"] == {
            "name": "webhooks",
            "status": "ok",
            "detail": f"{url} answers (405)",
        }
    finally:
        server.shutdown()
        server.server_close()
    dead = f"http://127.0.0.1:{free_port()}/hook"
    code, checks = check(tmp_path / "u.db", USHER_WEBHOOK_URL=dead, USHER_WEBHOOK_SECRET=secret)
    assert code == 2
    assert checks["webhooks"]["status"] == "fail"


def test_check_never_prints_the_smtp_password_in_text_mode(
    tmp_path: Path, smtp_with_auth: int
) -> None:
    url = f"smtp://bob:hunter22@127.0.0.1:{smtp_with_auth}?insecure=1"
    result = run_usher("check", "--db", str(tmp_path / "u.db"), USHER_SMTP_URL=url)
    assert result.returncode == 0
    assert "hunter22" not in result.stdout + result.stderr
    assert os.path.exists(tmp_path / "u.db")
