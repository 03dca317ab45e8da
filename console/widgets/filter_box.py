"""The `/` filter line of a list screen (Approvals, Outbox, Audit): hidden until `/` opens it,
emptied and hidden again by escape. One widget, so every list opens and closes its filter the
same way; each screen still decides what the text filters and where focus goes after. Compact
(one row) by default, so a list keeps its rows on an 80x24 terminal."""

from __future__ import annotations

from .text_boxes import SafeInput


class FilterBox(SafeInput):
    DEFAULT_CSS = """
    FilterBox { display: none; }
    FilterBox.shown { display: block; }
    """

    def __init__(self, placeholder: str, *, compact: bool = True) -> None:
        super().__init__(placeholder=placeholder, id="filter", compact=compact)

    def open(self) -> None:
        """Show the box and focus it now, not on the next message (`focus()` waits): keys
        typed right after `/` must land here, never on the list's own keys."""
        self.add_class("shown")
        self.screen.set_focus(self)

    def close(self) -> bool:
        """Empty and hide the box; True when it was open."""
        was_open = self.has_class("shown")
        self.value = ""
        self.remove_class("shown")
        return was_open
