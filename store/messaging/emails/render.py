"""Rendering one kind of email from its templates: subject, plain text and HTML.

The text and subject are not escaped (they are not HTML); the HTML body is autoescaped, so a
name like `<script>` arrives as text. Undefined values raise instead of rendering empty.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from store.domain.clock import from_db
from store.domain.languages import (
    LANGUAGE_FIELD,
    N_,
    PSEUDO,
    ContextLike,
    choose,
    install,
    translations,
)
from store.domain.text import clean_text
from store.service.settings import Settings

from .message import RenderedEmail, fold_header_text

TEMPLATES = Path(__file__).resolve().parent / "templates"
INTERNAL_KEY_PREFIX = "_"
"""Payload keys starting with `_` (like `_secret_keys`) are bookkeeping, not template values."""


class TemplateProblem(Exception):
    """A kind has no templates, or its templates cannot be rendered with the given values."""


LEVEL_WORDS = {
    "admin": N_("an admin"),
    "manager": N_("a manager"),
    "member": N_("a member"),
    "viewer": N_("a viewer"),
}
""""You asked to join Acme as a member": the level with its article, a phrase per language."""

LANGUAGE_KEY = "usher_language"
"""The context key that names the language an email is written in."""


def _language_of(context: ContextLike) -> str:
    return str(context.get(LANGUAGE_KEY) or "en")


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # templates ship with Usher: no stat() of three files per message
    )
    install(env, _language_of)

    @jinja2.pass_context
    def level_phrase(context: jinja2.runtime.Context) -> str:
        """The context's level in the email's language ("a member", "un membre"…)."""
        words = LEVEL_WORDS.get(str(context.get("level")))
        if words:
            return translations(_language_of(context)).gettext(words)
        return str(context.get("level_words") or context.get("level") or "")

    env.globals["level_phrase"] = level_phrase
    return env


def known_kinds() -> list[str]:
    """Every kind with a subject template (the other two files are checked by a test)."""
    return sorted(
        path.name.removesuffix(".subject.txt") for path in TEMPLATES.glob("*.subject.txt")
    )


def _clean_text_body(text: str) -> str:
    lines = [line.rstrip() if line.rstrip() != "--" else "-- " for line in text.splitlines()]
    return "\n".join(lines).strip("\n") + "\n"


def greeting(context: Mapping[str, Any]) -> str:
    """Whom "Hello …," names, the same way in every email: the first name when it is known,
    else the recipient's name, else nobody ("Hello,"), never the bare address."""
    first = context.get("first_name")
    if isinstance(first, str) and first.strip():
        return first.strip()
    return str(context.get("recipient_name") or "").strip()


def render(
    kind: str,
    values: Mapping[str, Any],
    settings: Settings,
    *,
    recipient: str = "",
    recipient_name: str = "",
    language: str | None = None,
) -> RenderedEmail:
    """Subject, text and HTML of `kind` filled with `values` and the common variables, in
    `language`, else the payload's own (`_language`: the recipient's,
    `store.messaging.outbox.enqueue`), else as `store.domain.languages.choose` says (USHER_LANGUAGE,
    else English)."""
    if not kind or not all(ch.isalnum() or ch in "-_" for ch in kind) or kind.startswith("_"):
        raise TemplateProblem(f"{kind!r} is not a valid email kind")
    context: dict[str, Any] = {
        key: clean_text(value) if isinstance(value, str) else value
        for key, value in values.items()
        if not key.startswith(INTERNAL_KEY_PREFIX)
    }
    context.update(
        org=fold_header_text(settings.org),
        contact=fold_header_text(settings.contact),
        public_url=settings.base_url,
        recipient=fold_header_text(recipient),
        recipient_name=fold_header_text(recipient_name),
    )
    context["greeting"] = greeting(context)
    asked = language or values.get(LANGUAGE_FIELD)
    context[LANGUAGE_KEY] = (
        PSEUDO
        if asked == PSEUDO
        else choose(set_for=asked if isinstance(asked, str) else None, configured=settings.language)
    )
    if isinstance(expires_at := context.get("expires_at"), str):
        with contextlib.suppress(ValueError):  # an old row's own text stays as it was
            context["expires_moment"] = from_db(expires_at)
    env = environment()
    try:
        subject = fold_header_text(env.get_template(f"{kind}.subject.txt").render(context))
        context["subject"] = subject
        text = env.get_template(f"{kind}.txt").render(context)
        html = env.get_template(f"{kind}.html").render(context)
    except jinja2.TemplateNotFound as missing:
        raise TemplateProblem(f"no email template {missing.name!r} for kind {kind!r}") from None
    except jinja2.UndefinedError as error:
        raise TemplateProblem(f"email kind {kind!r}: {error.message}") from None
    except jinja2.TemplateError as error:
        raise TemplateProblem(f"email kind {kind!r}: {error}") from None
    return RenderedEmail(subject=subject, text=_clean_text_body(text), html=html.strip() + "\n")
