"""Text boxes that show control characters instead of obeying them.

Textual's Input and TextArea render their value as it is, so an ESC loaded from a .csv or pasted
from a web page reaches the admin's terminal and runs there (OSC 2 retitles it, CSI recolours
the screen, OSC 52 writes the clipboard); a bidi override reorders the line on terminals that
do bidi. These boxes keep the value exactly as typed or loaded (the store's checks then say
"at position N") but draw it through `store.domain.text.visible`: ESC as ␛, BEL as ␇, bidi and other
invisible characters as �. The replacement is one character for one, so the cursor and the
selection stay on the characters they belong to.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import Input, TextArea

from store.domain.text import visible

__all__ = ["PasteBox", "SafeInput", "SafeTextArea"]


class SafeTextArea(TextArea):
    def get_line(self, line_index: int) -> Text:
        # Built from the document, not from super(): rich.Text drops BEL, BS and CR itself,
        # which would shift every later character away from its cursor column.
        return Text(visible(self.document.get_line(line_index)), end="", no_wrap=True)


class PasteBox(SafeTextArea):
    """A box for pasted lists: Tab moves on when typed, but a Tab inside a burst of keys (a
    paste the terminal did not bracket, or text typed ahead over SSH) is text — a spreadsheet's
    column break between name and address, never a jump to the next field."""

    async def _on_key(self, event: events.Key) -> None:
        keys = getattr(self.app, "keys", None)
        if event.key == "tab" and getattr(keys, "in_burst", False) and not self.read_only:
            event.stop()
            event.prevent_default()
            self.insert("\t")
            return
        await super()._on_key(event)


class SafeInput(Input):
    @property
    def _value(self) -> Text:
        # Overrides Input's private renderer of the value (textual is pinned): the same Text,
        # drawn from the visible form of the value.
        if self.password:
            return super()._value
        text = Text(visible(self.value), no_wrap=True, overflow="ignore", end="")
        if self.highlighter is not None:
            text = self.highlighter(text)
        return text
