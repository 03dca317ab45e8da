"""`USHER_SMTP_URL` → where and how to submit mail.

Forms: `smtp://[user:pass@]host[:port]` (plain, upgraded with STARTTLS when the server offers
it), `smtp://…?starttls=1` (STARTTLS required), `smtp://…?starttls=0` (never), and
`smtps://…` (TLS from the first byte). User and password are percent-decoded, so a password
with `@` or `:` is written `p%40ss`. Extra options: `verify=0` (accept any certificate, for a
relay with a self-signed one), `cafile=PATH` (trust this CA bundle), `timeout=SECONDS`.

Credentials never go in clear: with a user in the URL, TLS is required (`smtps://`, or
STARTTLS, which then must be offered), unless the URL says `insecure=1` (plain AUTH, for a
relay on a trusted private network).
"""

from __future__ import annotations

import ssl
from urllib.parse import parse_qsl, unquote, urlsplit

import msgspec

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
DEFAULT_TIMEOUT = 30.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SmtpUrlError(ValueError):
    """The SMTP URL cannot be used; the message says what to write instead."""


class SmtpTarget(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed SMTP URL. `starttls` None means: upgrade when the server offers it."""

    host: str
    port: int
    username: str = ""
    password: str = ""
    implicit_tls: bool = False
    starttls: bool | None = None
    verify: bool = True
    cafile: str = ""
    timeout: float = DEFAULT_TIMEOUT
    insecure: bool = False
    """`insecure=1`: credentials may go over a plain connection."""

    @property
    def needs_tls(self) -> bool:
        """Credentials are sent, so the connection must be encrypted first."""
        return bool(self.username) and not self.insecure

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context the URL asks for: its CA bundle, or no verification (`verify=0`);
        None: the library's default (the system's CAs, the host name checked)."""
        if not self.cafile and self.verify:
            return None
        context = ssl.create_default_context(cafile=self.cafile or None)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def describe(self) -> str:
        """For people (never shows the password): `smtp.acme.org:587 (STARTTLS, as bob)`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.implicit_tls:
            security = "TLS"
        elif self.starttls:
            security = "STARTTLS"
        elif self.starttls is None:
            security = "STARTTLS if offered"
        else:
            security = "plain"
        who = f", as {self.username}" if self.username else ""
        return f"{host}:{self.port} ({security}{who})"


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SmtpUrlError(f"USHER_SMTP_URL: {name} must be 1 or 0, not {value!r}")


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse and check an SMTP URL; every problem is a one-line SmtpUrlError."""
    text = url.strip()
    if not text:
        raise SmtpUrlError("USHER_SMTP_URL is empty")
    if any(ch in text for ch in "\r\n\x00"):
        raise SmtpUrlError("USHER_SMTP_URL must be one line")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise SmtpUrlError(
            f"USHER_SMTP_URL must start with smtp:// or smtps://, not {text.split(':')[0]!r}"
            if "://" in text
            else "USHER_SMTP_URL must look like smtp://user:pass@host:port"
        )
    host = parts.hostname or ""
    if not host:
        raise SmtpUrlError("USHER_SMTP_URL has no host (smtp://user:pass@HOST:port)")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise SmtpUrlError("USHER_SMTP_URL: the port must be a number from 1 to 65535") from None
    if not 0 < port < 65536:
        raise SmtpUrlError("USHER_SMTP_URL: the port must be a number from 1 to 65535")
    if parts.path not in ("", "/"):
        raise SmtpUrlError(f"USHER_SMTP_URL takes no path ({parts.path!r})")
    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if password and not username:
        raise SmtpUrlError("USHER_SMTP_URL has a password but no user name")

    starttls: bool | None = None
    verify = True
    cafile = ""
    timeout = DEFAULT_TIMEOUT
    insecure = False
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        key = name.lower()
        if key == "starttls":
            starttls = _flag(name, value)
        elif key == "verify":
            verify = _flag(name, value)
        elif key == "insecure":
            insecure = _flag(name, value)
        elif key == "cafile":
            cafile = value
        elif key == "timeout":
            try:
                timeout = float(value)
            except ValueError:
                raise SmtpUrlError(
                    f"USHER_SMTP_URL: timeout must be a number of seconds, not {value!r}"
                ) from None
            if not 0 < timeout <= 600:
                raise SmtpUrlError("USHER_SMTP_URL: timeout must be between 0 and 600 seconds")
        else:
            raise SmtpUrlError(
                f"USHER_SMTP_URL: unknown option {name!r} "
                "(known: starttls, verify, cafile, timeout, insecure)"
            )
    implicit_tls = scheme == "smtps"
    if implicit_tls and starttls:
        raise SmtpUrlError(
            "USHER_SMTP_URL: smtps:// is already TLS; use smtp://…?starttls=1 for STARTTLS"
        )
    if username and not implicit_tls and not insecure:
        if starttls is False:
            raise SmtpUrlError(
                "USHER_SMTP_URL: with starttls=0 the user name and password would go in clear; "
                "use smtps://, drop starttls=0, or add insecure=1 for a trusted private relay"
            )
        starttls = True  # required: a relay that does not offer it gets no password
    return SmtpTarget(
        host=host,
        port=port,
        username=username,
        password=password,
        implicit_tls=implicit_tls,
        starttls=False if implicit_tls else starttls,
        verify=verify,
        cafile=cafile,
        timeout=timeout,
        insecure=insecure,
    )
