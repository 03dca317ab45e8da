"""Secrets handed to people: URL tokens and one-time credentials.

Per-person tokens are stored only as SHA-256 digests and looked up by digest; a link token is
meant to be shown again, so it is stored as is. Both carry 256 bits from `secrets`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

TOKEN_BYTES = 32
ONE_TIME_PREFIX = "otc$"
"""Scheme prefix of a stored one-time credential (argon2 hashes start with `$argon2id$`)."""


def new_token() -> str:
    """A fresh URL-safe token of 256 bits."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """The form a per-person token is stored and looked up in."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_secret(left: str, right: str) -> bool:
    """Constant-time comparison for anything secret."""
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))


def new_one_time_credential() -> str:
    """130 bits as 26 base32 characters in groups of five or six: `ABCDE-FGHIJ-KLMNO-PQRST-UVWXYZ`.

    Typeable (no 0/1/8/9, case-insensitive) and long enough that it need not be slow-hashed.
    """
    raw = base64.b32encode(secrets.token_bytes(17)).decode("ascii")[:26]
    return "-".join([raw[0:5], raw[5:10], raw[10:15], raw[15:20], raw[20:26]])


def normalise_one_time_credential(text: str) -> str:
    """The credential's letters and digits, upper case. Only ASCII ones: a credential is
    base32, and any other character (`é`, `²`) simply cannot match (never an error)."""
    return "".join(ch for ch in text.upper() if ch.isascii() and ch.isalnum())


def one_time_credential_hash(credential: str) -> str:
    """Stored form of a one-time credential: scheme prefix + SHA-256 of its normalised text."""
    digest = hashlib.sha256(normalise_one_time_credential(credential).encode("ascii")).hexdigest()
    return ONE_TIME_PREFIX + digest


def is_one_time_hash(stored: str | None) -> bool:
    return bool(stored) and str(stored).startswith(ONE_TIME_PREFIX)


def one_time_credential_matches(stored: str, attempt: str) -> bool:
    return same_secret(stored, one_time_credential_hash(attempt))


SET_PASSWORD_VALID = timedelta(hours=72)
"""How long a "choose your password" link works, wherever it is made (reset, admin resend,
accounts created without a password): one lifetime, one constant."""
ONE_TIME_CREDENTIAL_VALID = timedelta(days=7)
"""How long a generated first password (or a shared "one for all" one) works before it must
be replaced (ASVS 5 §6.4.1), wherever it was made."""
