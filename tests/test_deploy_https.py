"""HTTPS as deployed: Debian's Caddy (`tls internal`, on loopback) in front of a real `usher
serve` process, and a person signing up through it in Debian's chromium.

It checks what only the whole chain shows: the cookies are `__Host-` and Secure, every page
carries HSTS, the emailed link (received by aiosmtpd from the serving process) is on the public
https URL, and the audit names the browser's address that Caddy forwarded - believed because the
peer (Caddy, 127.0.0.1 as Usher sees it) is in `USHER_TRUSTED_PROXIES`, while the address the
browser claimed for itself in its own `X-Forwarded-For` is not.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from .fixtures_smtp import Inbox
from .helpers import GOOD_PASSWORD, ROOT, child_env, eventually, free_port, run_usher, usher_command

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("caddy") is None,
        reason="caddy is not installed (scripts/system-packages.sh installs it)",
    ),
]

TEST_CADDYFILE = """\
{{
	admin off
	skip_install_trust
	auto_https disable_redirects
	storage file_system {storage}
}}

https://localhost:{port} {{
	bind ::1
	tls internal
{site}
}}
"""
"""The site block of the repository's deploy/Caddyfile with what a test on loopback needs: Caddy's
own CA instead of ACME, no admin endpoint, nothing written outside the test's folder. It listens
on ::1 only, so the browser's address (::1) differs from Caddy's as Usher sees it (127.0.0.1)."""


def deployed_site(upstream: str) -> str:
    """The body of deploy/Caddyfile's site block, sending to `upstream` instead of port 8000."""
    text = (ROOT / "deploy" / "Caddyfile").read_text()
    match = re.search(r"^usher\.example\.org \{\n(.*?)^\}", text, re.M | re.S)
    assert match, "deploy/Caddyfile has no usher.example.org block"
    assert "127.0.0.1:8000" in match.group(1)
    return match.group(1).replace("127.0.0.1:8000", upstream).rstrip()


SPOOFED = "203.0.113.9"


def answers(port: int, cafile: Path) -> bool:
    """GET /healthz over TLS to [::1]:port, the certificate checked against Caddy's own CA."""
    context = ssl.create_default_context(cafile=str(cafile))
    try:
        with (
            socket.create_connection(("::1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(f"GET /healthz HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
            return tls.recv(64).startswith(b"HTTP/1.1 200")
    except (OSError, ssl.SSLError):
        return False


def wait_for_caddy(port: int, cafile: Path, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until Caddy answers with a certificate from its own CA (about 3 s)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"caddy exited {proc.returncode}: {log.read_text()[-3000:]}")
        if cafile.exists() and answers(port, cafile):
            return
        time.sleep(0.1)
    raise AssertionError(f"caddy did not answer on port {port}: {log.read_text()[-3000:]}")


@contextlib.contextmanager
def caddy_in_front(folder: Path, port: int, upstream: str) -> Iterator[None]:
    folder.mkdir()
    config = folder / "Caddyfile"
    site = deployed_site(upstream)
    config.write_text(TEST_CADDYFILE.format(storage=folder, port=port, site=site))
    log = folder / "caddy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["caddy", "run", "--config", str(config), "--adapter", "caddyfile"],
            env=child_env(HOME=str(folder)),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        ca = folder / "pki" / "authorities" / "local" / "root.crt"
        wait_for_caddy(port, ca, proc, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def usher_serving(db: Path, **env: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`usher serve --port 0` on loopback; yields the process and the address it listens on."""
    proc = subprocess.Popen(
        usher_command("serve", "--db", str(db), "--port", "0"),
        cwd=ROOT,
        env=child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on http://(\S+),", line)
        assert match, f"usher serve printed {line!r}"
        yield proc, match.group(1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert "Traceback" not in proc.communicate(timeout=5)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def audit_actors(db: Path, action: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT actor FROM audit WHERE action = ? ORDER BY id", (action,))
        return [str(row[0]) for row in rows]


async def test_sign_up_through_caddy_over_https(
    tmp_path: Path, browser: Browser, smtp: tuple[Inbox, int]
) -> None:
    inbox, smtp_port = smtp
    port = free_port()
    public = f"https://localhost:{port}"
    db = tmp_path / "usher.db"
    env = {
        "USHER_PUBLIC_URL": public,
        "USHER_TRUSTED_PROXIES": "127.0.0.1",
        "USHER_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "USHER_ORG": "Acme",
        "USHER_METRICS": "1",
    }
    with (
        usher_serving(db, **env) as (_, upstream),
        caddy_in_front(tmp_path / "caddy", port, upstream),
    ):
        created = run_usher(
            "links",
            "create",
            "--level",
            "member",
            "--db",
            str(db),
            "--json",
            stdin=None,
            timeout=60,
            variables=env,
        )
        assert created.returncode == 0, created.stderr
        url = json.loads(created.stdout)["url"]
        assert url.startswith(f"{public}/join/")

        context = await browser.new_context(
            ignore_https_errors=True, extra_http_headers={"X-Forwarded-For": SPOOFED}
        )
        page = await context.new_page()
        # Metrics are open to direct loopback clients, but not through the proxy.
        with urllib.request.urlopen(f"http://{upstream}/metrics", timeout=10) as direct:
            assert direct.status == 200
        probe = await page.goto(f"{public}/metrics")
        assert probe is not None and probe.status == 404
        assert "usher_" not in await probe.text()

        response = await page.goto(url)
        assert response is not None and response.ok
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        await page.fill("#email", "bea@example.org")
        await page.fill("#first_name", "Bea")
        await page.fill("#last_name", "Smith")
        await page.fill("#password", GOOD_PASSWORD)
        async with page.expect_response(lambda r: r.request.method == "POST") as posted:
            await page.get_by_role("button", name="Create my account").click()
        assert (await posted.value).headers["strict-transport-security"] == "max-age=31536000"
        await expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

        cookies = {cookie["name"]: cookie for cookie in await context.cookies()}
        assert set(cookies) == {"__Host-usher_csrf", "__Host-usher_signup", "__Host-usher_email"}
        csrf = cookies["__Host-usher_csrf"]
        assert csrf["secure"] and csrf["httpOnly"] and csrf["path"] == "/"
        signup = cookies["__Host-usher_signup"]
        assert signup["secure"] and signup["httpOnly"] and signup["sameSite"] == "Strict"
        assert "domain" not in csrf or csrf["domain"] == "localhost"

        async def arrived() -> bool:
            return inbox.find("bea@example.org", "Confirm your email") is not None

        await eventually(arrived, timeout=30)
        message = inbox.find("bea@example.org", "Confirm your email")
        assert message is not None
        confirm_url = inbox.link_in(message, "confirm")
        assert confirm_url.startswith(f"{public}/confirm/")
        await page.goto(confirm_url)
        confirm = page.get_by_role("button", name=re.compile("Confirm"))
        if await confirm.count():
            await confirm.click()
        # The browser that signed up confirms: its password stays, sign-in comes next.
        await expect(page.get_by_text("Your email address is confirmed")).to_be_visible()
        await expect(page.locator("#email")).to_have_value("bea@example.org")

        await page.goto(f"{public}/login")
        await page.fill("#email", "bea@example.org")
        await page.fill("#password", GOOD_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
        session = {c["name"]: c for c in await context.cookies()}["__Host-usher_session"]
        assert session["secure"] and session["httpOnly"]
        assert page.url.startswith(public)
        await context.close()

        # Caddy forwarded the browser's address (::1, not the one the browser claimed); Usher
        # believed it because Caddy's address (127.0.0.1) is a trusted proxy.
        assert audit_actors(db, "signed_up") == ["web ::1"]
        assert audit_actors(db, "signed_in") == ["web ::1"]


def test_the_deploy_caddyfile_is_valid(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            "caddy",
            "validate",
            "--config",
            str(ROOT / "deploy" / "Caddyfile"),
            "--adapter",
            "caddyfile",
        ],
        env=child_env(HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
