"""The language an admin sets for a link, an invitation batch or new accounts (a Select whose
first option leaves it to the default), and how the tables and details show one. The console
itself stays English: languages are named in English, with their code."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Select

from store.domain.languages import SHIPPED, english_name

__all__ = ["NONE_CHOSEN", "LanguageSelect", "language_cell", "language_words"]

NONE_CHOSEN = "browser's choice"
"""What no language set means when USHER_LANGUAGE is unset (`store.domain.languages.choose`)."""


def language_words(code: str | None, *, configured: str = "") -> str:
    """ "German (de)"; none set: "browser's choice", or "default: French (fr)" when
    USHER_LANGUAGE (`configured`) names one."""
    if code:
        return f"{english_name(code)} ({code})"
    if configured in SHIPPED:
        return f"default: {english_name(configured)} ({configured})"
    return NONE_CHOSEN


def language_cell(code: str | None) -> Text:
    """The Lang column: the code, or a dim dash when none was set."""
    return Text(code, style="") if code else Text("—", style="dim")


class LanguageSelect(Select[str]):
    """ "Browser's choice" (or USHER_LANGUAGE's default) first, then every shipped language."""

    def __init__(
        self,
        *,
        configured: str = "",
        value: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name
    ) -> None:
        options = [(language_words(None, configured=configured).capitalize(), "")]
        options += [(language_words(code), code) for code in SHIPPED]
        super().__init__(options, value=value or "", allow_blank=False, id=id, compact=True)

    @property
    def language(self) -> str | None:
        """The chosen code, or None for the default."""
        value = self.value
        return value if isinstance(value, str) and value else None
