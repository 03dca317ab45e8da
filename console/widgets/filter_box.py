"""The `/` filter line of a list screen (Approvals, Outbox, Audit): hidden until `/` opens it,
emptied and hidden again by escape. One widget, so every list opens and closes its filter the
same way; each screen still decides what the text filters and where focus goes after."""

from __future__ import annotations

from textual.widgets import Input


class FilterBox(Input):
    DEFAULT_CSS = """
    FilterBox { display: none; }
    FilterBox.shown { display: block; }
    """

    def __init__(self, placeholder: str, *, compact: bool = False) -> None:
        super().__init__(placeholder=placeholder, id="filter", compact=compact)

    def open(self) -> None:
        self.add_class("shown")
        self.focus()

    def close(self) -> bool:
        """Empty and hide the box; True when it was open."""
        was_open = self.has_class("shown")
        self.value = ""
        self.remove_class("shown")
        return was_open
