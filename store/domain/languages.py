"""Which language an invitee reads, and the translations that speak it.

The one rule (`choose`): the language the person chose with the switcher (its cookie or
`?lang=`), else the one the admin set on their link or invitation (or stored with their
account), else `USHER_LANGUAGE` when it is set, else the best of the browser's
`Accept-Language` among those shipped, else English. Pages and emails share
one gettext catalogue per language, `store/locale/<code>/LC_MESSAGES/usher.po`, compiled in
memory on first use (no `.mo` file to forget to rebuild). The pseudo-locale (`qps-ploc`)
wraps and lengthens every string so tests can see any that escaped translation.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jinja2
from babel import Locale
from babel.dates import format_date, format_time
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

__all__ = [
    "COOKIE",
    "DEFAULT",
    "LANGUAGE_FIELD",
    "N_",
    "PSEUDO",
    "SHIPPED",
    "ContextLike",
    "checked_language",
    "choose",
    "date_and_time",
    "direction",
    "english_name",
    "install",
    "language_problem",
    "pseudo",
    "translations",
]

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "usher"
DEFAULT = "en"
SHIPPED: dict[str, str] = {
    "en": "English",
    "fr": "Français",
    "de": "Deutsch",
    "es": "Español",
    "ar": "العربية",
}
"""Every language Usher speaks, each named in itself (as the switcher shows it)."""
RIGHT_TO_LEFT = frozenset({"ar"})
PSEUDO = "qps-ploc"
"""Not shipped: only `USHER_LANGUAGE` can ask for it, for tests and for checking a layout."""
COOKIE = "usher_language"
LANGUAGE_FIELD = "_language"
"""An outbox payload's language (bookkeeping, like `_secret_keys`): the one its reader chose."""
_WEIGHTED = re.compile(
    r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$"
)


class ContextLike(Protocol):
    """A template's context (Jinja's `Context`) or a plain mapping: what names the language."""

    def get(self, key: str, default: Any = None) -> Any: ...


def N_(message: str) -> str:
    """Marks a string in Python for `make messages`; a template translates it when shown."""
    return message


def language_problem(code: str) -> str | None:
    """Why `code` cannot be `USHER_LANGUAGE` (empty = unset), or None."""
    if not code or code in SHIPPED or code == PSEUDO:
        return None
    return f"must be one of {', '.join(SHIPPED)}, not {code!r}"


def checked_language(code: str | None) -> str | None:
    """The language an admin sets on a link, an invitation batch or new accounts: a shipped
    code, or None for "the invitee's browser decides" (empty or None). ValueError otherwise."""
    if not code:
        return None
    cleaned = code.strip().lower()
    if cleaned not in SHIPPED:
        raise ValueError(
            f"language {code.strip()!r} is not one Usher speaks: use one of {', '.join(SHIPPED)}"
        )
    return cleaned


def _from_accept_language(header: str) -> str | None:
    """The shipped language the browser prefers most (`fr-CA` counts as `fr`), or None."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:32]):
        match = _WEIGHTED.match(part)
        if not match:
            continue
        try:
            weight = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        primary = match.group(1).split("-")[0].lower()
        if weight > 0 and primary in SHIPPED:
            weighted.append((-weight, position, primary))
    return min(weighted)[2] if weighted else None


def choose(
    *,
    switched: str | None = None,
    set_for: str | None = None,
    configured: str = "",
    accept_language: str | None = None,
) -> str:
    """The language of a page or an email, in this order: `switched`, the invitee's own choice
    (the switcher's `?lang=` or cookie); `set_for`, the language the admin set on their link or
    invitation, or the one stored with their account; `configured`, USHER_LANGUAGE (empty:
    unset); the browser's `accept_language` among the shipped languages; English."""
    if switched in SHIPPED:
        return str(switched)
    if set_for in SHIPPED:
        return str(set_for)
    if configured in SHIPPED or configured == PSEUDO:
        return configured
    if accept_language:
        found = _from_accept_language(accept_language[:1000])
        if found:
            return found
    return DEFAULT


def english_name(code: str) -> str:
    """ "German" for `de`: how the console (which stays English) names a language."""
    if code not in SHIPPED:
        return code
    return str(Locale.parse(code).get_display_name("en") or code)


def direction(code: str) -> str:
    """`rtl` or `ltr`, for `<html dir>`."""
    return "rtl" if code in RIGHT_TO_LEFT else "ltr"


_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%")
_ACCENTED = str.maketrans("aceinouyACEINOUY", "àçéîñöûýÀÇÉÎÑÖÛÝ")


def pseudo(text: str) -> str:
    """`text` accented, lengthened by a third and wrapped in ⟦…⟧, placeholders kept intact."""
    if not text:
        return text
    pieces = _PLACEHOLDER.split(text)
    kept = _PLACEHOLDER.findall(text)
    out = pieces[0].translate(_ACCENTED)
    for placeholder, piece in zip(kept, pieces[1:], strict=True):
        out += placeholder + piece.translate(_ACCENTED)
    return "⟦" + out + "·" * (len(text) // 3) + "⟧"


class _Pseudo(NullTranslations):
    def gettext(self, message: str) -> str:
        return pseudo(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return pseudo(singular if n == 1 else plural)


@cache
def translations(code: str) -> NullTranslations:
    """The compiled catalogue of `code` (English and unknown codes: the source strings)."""
    if code == PSEUDO:
        return _Pseudo()
    po = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    if code == DEFAULT or not po.is_file():
        return NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=code)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


_QUOTE_OUTSIDE_TAGS = re.compile(r"(<[^>]*>)|'|\"")


def _as_html_text(text: str) -> str:
    """Quotes outside the catalogue's own tags written as Jinja escapes a plain string, so a
    translated page is the same bytes as before and a quote cannot end an attribute."""
    return _QUOTE_OUTSIDE_TAGS.sub(
        lambda m: m.group(1) or ("&#39;" if m.group(0) == "'" else "&#34;"), text
    )


def _babel_locale(code: str) -> Locale:
    """British English for English (the pages' spelling, "12 December 2026")."""
    return Locale.parse("en_GB" if code in (PSEUDO, DEFAULT) else code)


def date_and_time(moment: datetime, code: str) -> str:
    """The locale's long date and short time, the zone named ("12 December 2026 at 14:00 UTC")."""
    locale = _babel_locale(code)
    pattern = str(locale.datetime_formats["long"]).replace("'", "")
    date = format_date(moment, format="long", locale=locale)
    time = format_time(moment, format="short", tzinfo=moment.tzinfo, locale=locale)
    zone = moment.tzname() or "UTC"
    return pattern.replace("{1}", date).replace("{0}", f"{time} {zone}")


def install(environment: jinja2.Environment, language_of: Callable[[ContextLike], str]) -> None:
    """Give `environment` gettext, ngettext and Babel's formatting, each in the language
    `language_of(template context)` names, so one environment serves every language."""
    environment.add_extension("jinja2.ext.i18n")
    environment.policies["ext.i18n.trimmed"] = True  # a msgid never depends on indentation

    @jinja2.pass_context
    def gettext(context: jinja2.runtime.Context, message: str) -> str:
        text = translations(language_of(context)).gettext(message)
        return _as_html_text(text) if context.eval_ctx.autoescape else text

    @jinja2.pass_context
    def ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
        text = translations(language_of(context)).ngettext(singular, plural, n)
        return _as_html_text(text) if context.eval_ctx.autoescape else text

    @jinja2.pass_context
    def translate(context: jinja2.runtime.Context, message: str) -> str:
        """A string marked with `N_` in Python, translated as plain text (escaped when shown,
        unlike `_()`, whose result is the catalogue's trusted markup)."""
        return translations(language_of(context)).gettext(message)

    @jinja2.pass_context
    def language(context: jinja2.runtime.Context) -> str:
        return language_of(context)

    @jinja2.pass_context
    def long_date(context: jinja2.runtime.Context, moment: datetime) -> str:
        """ "12 December 2026" in the reader's language."""
        return format_date(moment, format="long", locale=_babel_locale(language_of(context)))

    @jinja2.pass_context
    def date_time(context: jinja2.runtime.Context, moment: datetime) -> str:
        """Date, time and its zone ("12 December 2026 at 14:00 UTC")."""
        return date_and_time(moment, language_of(context))

    @jinja2.pass_context
    def number(context: jinja2.runtime.Context, value: float) -> str:
        return format_decimal(value, locale=_babel_locale(language_of(context)))

    @jinja2.pass_context
    def or_list(context: jinja2.runtime.Context, items: list[str]) -> str:
        """ "a, b or c" in the reader's language."""
        return format_list(list(items), style="or", locale=_babel_locale(language_of(context)))

    environment.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.globals.update(
        translate=translate,
        language=language,
        direction=lambda code: direction(code),
        languages=SHIPPED,
    )
    environment.filters.update(
        or_list=or_list, long_date=long_date, date_time=date_time, number=number
    )
