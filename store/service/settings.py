"""Usher's settings: one struct, filled from defaults, then `USHER_*` variables, then flags.

Kept in `store/` because every face (console, CLI, signup server, mail worker) reads the same
values and none of them may disagree about, say, the public URL that goes into emails.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

import msgspec

from store.domain.addresses import local_part_problem
from store.domain.languages import language_problem as problem_with_language
from store.domain.passwords import (
    DEFAULT_MEMORY_KIB,
    DEFAULT_PARALLELISM,
    DEFAULT_TIME_COST,
    meets_owasp_minimum,
)
from store.domain.text import text_problem
from store.messaging.webhook_secret import WebhookSecretError, secret_key
from store.service.proxies import parse_trusted_proxies

ENV_PREFIX = "USHER_"
LOG_FORMATS = ("text", "json")
"""`text` for people reading a terminal, `json` (one object a line) for journald/log shippers."""


class SettingsError(ValueError):
    """A setting has a value Usher cannot use; the message names the setting."""


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Every knob of a running Usher. Field names match `USHER_<NAME>` and the CLI's `--name`."""

    db: str = "./usher.db"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    smtp_url: str = ""
    mail_from: str = ""
    mail_dir: str = ""
    notify: list[str] = msgspec.field(default_factory=list)
    org: str = "Usher"
    rate_limit: int = 150
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    webhook_url: str = ""
    webhook_secret: str = ""
    argon2_memory_kib: int = DEFAULT_MEMORY_KIB
    argon2_time_cost: int = DEFAULT_TIME_COST
    argon2_parallelism: int = DEFAULT_PARALLELISM
    ssh_port: int | None = None
    ssh_host: str = ""
    log_format: str = "text"
    metrics: bool = False
    metrics_token: str = ""
    seat_limit: int = 0
    contact: str = ""
    """USHER_CONTACT: whom invitees ask when a link is dead or an account closed ("Ann Lee,
    ann@acme.org"), shown on those pages and in the emails; empty: "the person who invited you"."""
    language: str = ""
    """USHER_LANGUAGE: the invitee pages' and emails' language when neither the invitee (the
    switcher) nor the admin (a link's, invitation's or account's language) chose one; empty
    (unset): the browser's `Accept-Language` decides among those shipped, else English
    (`store.domain.languages.choose`)."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be between 0 and 65535, not {self.port}")
        if self.ssh_port is not None and not 0 <= self.ssh_port <= 65535:
            raise SettingsError(f"ssh_port must be between 0 and 65535, not {self.ssh_port}")
        if self.seat_limit < 0:
            raise SettingsError(f"seat_limit must be 0 (no limit) or more, not {self.seat_limit}")
        if self.rate_limit < 1:
            raise SettingsError(f"rate_limit must be at least 1, not {self.rate_limit}")
        if not meets_owasp_minimum(
            memory_kib=self.argon2_memory_kib,
            time_cost=self.argon2_time_cost,
            parallelism=self.argon2_parallelism,
        ):
            raise SettingsError(
                "argon2 parameters are below OWASP's minimum (e.g. argon2_memory_kib 19456 "
                "with argon2_time_cost 2, or 47104 with 1; argon2_parallelism at least 1)"
            )
        if self.public_url:
            self.public_url = self.public_url.rstrip("/")
            if not self.public_url.startswith(("http://", "https://")):
                raise SettingsError(
                    f"public_url must start with http:// or https://, not {self.public_url!r}"
                )
        elif self.host in {"0.0.0.0", "::"}:  # noqa: S104 - checking, not binding
            raise SettingsError(
                "public_url is required when host is 0.0.0.0 or :: "
                "(set USHER_PUBLIC_URL or --public-url to the address people will open)"
            )
        try:
            parse_trusted_proxies(self.trusted_proxies)
        except ValueError as error:
            raise SettingsError(f"trusted_proxies (USHER_TRUSTED_PROXIES): {error}") from None
        if self.webhook_url:
            if not self.webhook_url.startswith(("http://", "https://")):
                raise SettingsError(
                    f"webhook_url must start with http:// or https://, not {self.webhook_url!r}"
                )
            if not self.webhook_secret:
                raise SettingsError(
                    "webhook_secret is required when webhook_url is set (set "
                    "USHER_WEBHOOK_SECRET to the output of `usher webhooks secret`, and give "
                    "the receiver the same)"
                )
        if self.webhook_secret:
            try:
                secret_key(self.webhook_secret)
            except WebhookSecretError as error:
                raise SettingsError(str(error)) from None
        if self.log_format not in LOG_FORMATS:
            raise SettingsError(
                f"log_format (USHER_LOG_FORMAT) must be one of {', '.join(LOG_FORMATS)}, "
                f"not {self.log_format!r}"
            )
        contact_problem = text_problem(self.contact) if self.contact else None
        if contact_problem or len(self.contact) > 200:
            raise SettingsError(
                f"contact (USHER_CONTACT) {contact_problem or 'must be at most 200 characters'}"
            )
        language_problem = problem_with_language(self.language)
        if language_problem:
            raise SettingsError(f"language (USHER_LANGUAGE) {language_problem}")
        if not self.mail_from:
            self.mail_from = f"usher@{socket.gethostname() or 'localhost'}"
        for name, address in [("mail_from", self.mail_from)] + [("notify", a) for a in self.notify]:
            problem = local_part_problem(address.rpartition("@")[0])
            if problem:
                raise SettingsError(f"{name} {address!r}: {problem}")

    @property
    def base_url(self) -> str:
        """The URL people open: the configured public URL, else built from host and port."""
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def is_https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_url)

    @property
    def webhooks_configured(self) -> bool:
        return bool(self.webhook_url)

    def with_port(self, port: int) -> Settings:
        """A copy bound to `port` (used when `--port 0` let the OS pick one)."""
        return msgspec.structs.replace(self, port=port)


_LIST_FIELDS = {"notify", "trusted_proxies"}


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]


def load_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Merge defaults < environment < flags and validate the result.

    `flags` holds only the options the user actually gave (None values are ignored), so that an
    unset flag never hides an environment variable.
    """
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    for name in Settings.__struct_fields__:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is None or raw == "":
            continue
        merged[name] = _split_list(raw) if name in _LIST_FIELDS else raw
    for name, value in (flags or {}).items():
        if value is not None:
            merged[name] = value
    try:
        return msgspec.convert(merged, Settings, strict=False)
    except msgspec.ValidationError as error:
        raise SettingsError(_explain(error)) from None
    except SettingsError:
        raise


def _explain(error: msgspec.ValidationError) -> str:
    """Turn msgspec's `Expected int, got str - at $.port` into `port: expected int`."""
    text = str(error)
    message, _, where = text.partition(" - at `$.")
    if where:
        field = where.rstrip("`").split("[")[0]
        env = ENV_PREFIX + field.upper()
        return f"{field} ({env} or --{field.replace('_', '-')}): {message[0].lower()}{message[1:]}"
    return text
