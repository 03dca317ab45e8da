"""`usher check`: is this configuration going to work? One check a function, each answering
`ok`, `warn`, `fail` or `skip` with one line for people.

Nothing here sends mail (unless asked with `send_to`), writes to the database (the write probe
rolls back) or changes a file; it can run beside a live `usher serve`.
"""

from __future__ import annotations

import datetime
import os
import ssl
import stat
from email.message import EmailMessage
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiosmtplib
import httpx
import msgspec

from store.database.core import Store, StoreError
from store.database.health import database_writable
from store.domain.addresses import AddressProblem, normalise_address
from store.domain.clock import from_db
from store.messaging.smtp_url import SmtpUrlError, parse_smtp_url
from store.service.proxies import parse_address, parse_trusted_proxies
from store.service.settings import Settings

__all__ = ["Check", "all_passed", "run_checks"]

Status = Literal["ok", "warn", "fail", "skip"]
CLOCK_SLACK = datetime.timedelta(minutes=5)
EARLIEST_SANE_YEAR = 2025


class Check(msgspec.Struct, frozen=True):
    name: str
    status: Status
    detail: str


def all_passed(checks: list[Check]) -> bool:
    """Warnings are advice; only a failure means the configuration will not work."""
    return all(check.status != "fail" for check in checks)


async def run_checks(settings: Settings, *, send_to: str = "") -> list[Check]:
    checks: list[Check] = []
    try:
        store = await Store.open(settings, watch=False)
    except StoreError as error:
        checks.append(Check("database", "fail", str(error)))
        store = None
    if store is not None:
        try:
            checks.append(await _database(store))
            checks.append(_file_modes(store.path))
            checks.append(await _clock(store))
        finally:
            await store.close()
    checks.append(_public_url(settings))
    checks.append(_proxies(settings))
    checks.append(await _smtp(settings, send_to))
    checks.append(await _webhook(settings))
    return checks


async def _database(store: Store) -> Check:
    problem = await database_writable(store)
    if problem:
        return Check("database", "fail", f"{store.location} opens but takes no writes: {problem}")
    version = await store.engine.user_version()
    return Check("database", "ok", f"{store.location} opens at schema {version} and takes writes")


def _file_modes(db_path: str) -> Check:
    """The database holds password hashes and people's details: owner-only, like a key."""
    shown: list[str] = []
    loose: list[str] = []
    for path in (Path(db_path), Path(db_path + "-wal"), Path(db_path + "-shm")):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        shown.append(f"{path.name} {mode:04o}")
        if mode & 0o077:
            loose.append(path.name)
    if loose:
        return Check(
            "file modes",
            "fail",
            f"{', '.join(shown)}: others may read it; run chmod 600 {' '.join(loose)}",
        )
    return Check("file modes", "ok", ", ".join(shown))


async def _clock(store: Store) -> Check:
    """A clock far off breaks expiry (links, tokens, sessions); one behind the database's newest
    entry went backwards since then."""
    now = datetime.datetime.now(datetime.UTC)
    if now.year < EARLIEST_SANE_YEAR:
        return Check("clock", "fail", f"the system clock says {now:%Y-%m-%d}: set the time (NTP)")
    newest = await store.engine.scalar("SELECT max(at) FROM audit")
    shown = f"{now:%Y-%m-%d %H:%M} UTC"
    if newest:
        latest = from_db(str(newest))
        if latest > now + CLOCK_SLACK:
            behind = latest - now
            return Check(
                "clock",
                "fail",
                f"{shown} is {_duration(behind)} behind the database's newest entry "
                f"({latest:%Y-%m-%d %H:%M} UTC): check the time (NTP)",
            )
    return Check("clock", "ok", shown)


def _duration(delta: datetime.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _public_url(settings: Settings) -> Check:
    url = settings.base_url
    parts = urlsplit(url)
    if not parts.hostname:
        return Check("public URL", "fail", f"{url} has no host name")
    if parts.query or parts.fragment or parts.username:
        return Check("public URL", "fail", f"{url}: give only scheme, host and port")
    if parts.path not in ("", "/"):
        return Check("public URL", "warn", f"{url}: links get this path; the proxy must strip it")
    if parts.scheme != "https":
        address = parse_address(parts.hostname)
        local = parts.hostname == "localhost" or (address is not None and address.is_loopback)
        if not local:
            return Check(
                "public URL",
                "warn",
                f"{url} is not https: passwords would cross the network in clear "
                "(put Caddy in front, see deploy/Caddyfile)",
            )
    return Check("public URL", "ok", url)


def _proxies(settings: Settings) -> Check:
    networks = parse_trusted_proxies(settings.trusted_proxies)  # validated with the settings
    if networks:
        return Check("trusted proxies", "ok", ", ".join(str(n) for n in networks))
    behind_proxy = settings.is_https and _loopback_host(settings.host)
    if behind_proxy:
        return Check(
            "trusted proxies",
            "warn",
            "none, but the public URL is https while Usher listens on loopback: behind a proxy "
            "every client shares the proxy's rate limit; set USHER_TRUSTED_PROXIES=127.0.0.1",
        )
    return Check("trusted proxies", "ok", "none (X-Forwarded-For is ignored)")


async def _smtp(settings: Settings, send_to: str) -> Check:
    if not settings.smtp_url:
        if send_to:
            return Check("SMTP", "fail", "USHER_SMTP_URL is not set: nothing to send with")
        return Check("SMTP", "skip", "USHER_SMTP_URL is not set: mail is kept in the outbox")
    try:
        target = parse_smtp_url(settings.smtp_url)
        if send_to:
            send_to = normalise_address(send_to)
    except SmtpUrlError as error:
        return Check("SMTP", "fail", str(error))
    except AddressProblem as error:
        return Check("SMTP", "fail", f"--send-to {send_to!r}: {error}")
    tls_context = target.tls_context()
    smtp = aiosmtplib.SMTP(
        hostname=target.host,
        port=target.port,
        username=target.username or None,
        password=target.password or None,
        use_tls=target.implicit_tls,
        start_tls=target.starttls,
        validate_certs=target.verify,
        tls_context=tls_context,
        timeout=target.timeout,
    )
    where = target.describe()
    try:
        await smtp.connect()  # greeting, EHLO, STARTTLS and AUTH as the URL says
    except aiosmtplib.SMTPAuthenticationError as error:
        smtp.close()
        return Check("SMTP", "fail", f"{where}: sign-in refused: {smtp_reply(error)}")
    except aiosmtplib.SMTPResponseException as error:
        smtp.close()
        return Check("SMTP", "fail", f"{where}: {smtp_reply(error)}")
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as error:
        smtp.close()
        return Check("SMTP", "fail", f"cannot connect to {where}: {error}")
    steps = ["connected", "EHLO"]
    if target.implicit_tls or smtp.get_transport_info("sslcontext") is not None:
        steps.append("TLS")
    if target.username:
        steps.append("AUTH")
    try:
        if send_to:
            await smtp.send_message(_test_message(settings, send_to))
            steps.append(f"test message accepted for {send_to}")
        await smtp.quit()
    except aiosmtplib.SMTPResponseException as error:
        smtp.close()
        return Check("SMTP", "fail", f"{where}: {', '.join(steps)}; then {smtp_reply(error)}")
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        smtp.close()
        return Check("SMTP", "fail", f"{where}: {', '.join(steps)}; then {error}")
    if "TLS" not in steps and not _loopback_host(target.host):
        return Check("SMTP", "warn", f"{where}: {', '.join(steps)}, but without TLS")
    return Check("SMTP", "ok", f"{where}: {', '.join(steps)}")


def smtp_reply(error: aiosmtplib.SMTPResponseException) -> str:
    return f"{error.code} {error.message}".strip()


def _loopback_host(host: str) -> bool:
    address = parse_address(host)
    return host == "localhost" or (address is not None and address.is_loopback)


def _test_message(settings: Settings, to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = f"{settings.org}: test message from usher check"
    message.set_content(
        f"usher check on {os.uname().nodename} sent this to test the mail settings.\n"
        "Nothing needs to be done.\n"
    )
    return message


async def _webhook(settings: Settings) -> Check:
    """Any HTTP answer counts: the receiver may well refuse an unsigned GET."""
    if not settings.webhook_url:
        return Check("webhooks", "skip", "USHER_WEBHOOK_URL is not set")
    try:
        async with httpx.AsyncClient(timeout=10, follow_redirects=False) as client:
            response = await client.get(settings.webhook_url)
    except httpx.HTTPError as error:
        return Check("webhooks", "fail", f"{settings.webhook_url} does not answer: {error}")
    return Check("webhooks", "ok", f"{settings.webhook_url} answers ({response.status_code})")
