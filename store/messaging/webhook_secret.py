"""The webhook signing secret, in the Standard Webhooks form (standardwebhooks.com):
`whsec_` followed by the base64 of at least 24 random bytes, so receivers can verify with an
off-the-shelf library in any language. `usher webhooks secret` prints a fresh one."""

from __future__ import annotations

import base64
import binascii
import secrets

PREFIX = "whsec_"
MIN_BYTES = 24
NEW_BYTES = 32


class WebhookSecretError(ValueError):
    """The secret is not a usable `whsec_…` secret; the message says what to do."""


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_<base64>` secret stands for; WebhookSecretError otherwise."""
    hint = "run `usher webhooks secret` for a fresh one and give it to the receiver too"
    if not secret.startswith(PREFIX):
        raise WebhookSecretError(f"USHER_WEBHOOK_SECRET must look like whsec_<base64> ({hint})")
    encoded = secret[len(PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookSecretError(
            f"USHER_WEBHOOK_SECRET is not valid base64 after whsec_ ({hint})"
        ) from None
    if len(key) < MIN_BYTES:
        raise WebhookSecretError(
            f"USHER_WEBHOOK_SECRET holds {len(key)} bytes; at least {MIN_BYTES} random bytes "
            f"are needed ({hint})"
        )
    return key


def new_secret() -> str:
    """A fresh secret: 32 random bytes, `whsec_<base64>`."""
    return PREFIX + base64.b64encode(secrets.token_bytes(NEW_BYTES)).decode()
