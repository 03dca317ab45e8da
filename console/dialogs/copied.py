"""Copying goes to the terminal by OSC 52, which many terminals, tmux set-ups and SSH clients
drop without a word. So a copy never claims "Copied": it says the copy was sent, explains the
first time what that needs, and offers the text itself to select with the mouse."""

from __future__ import annotations

import weakref
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

SENT = "Copy sent to your terminal"
NEEDS = "needs OSC 52: many terminals, tmux and SSH clients drop it silently"

_explained: weakref.WeakSet[App[Any]] = weakref.WeakSet()
"""Apps whose admin has been told once what a copy needs."""


class CopiedDialog(ModalScreen[None]):
    """The copied text on a line of its own (never wrapped inside a word), to select by hand."""

    CSS_PATH = "copied.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter", "close", "Done")]

    def __init__(self, text: str, what: str) -> None:
        super().__init__()
        self.text = text
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = SENT
            yield Static(
                Text(f"{SENT} ({NEEDS}). If nothing arrived, select the {self.what} here:"),
                classes="note",
            )
            yield Static(Text(self.text), id="text")
            yield Static(
                Text("Most terminals select with shift+drag while an app uses the mouse."),
                classes="note",
            )
            with Horizontal():
                yield Button("Done", id="done", variant="primary", compact=True)

    @on(Button.Pressed, "#done")
    def action_close(self) -> None:
        self.dismiss(None)


def copy_and_tell(
    app: App[Any], text: str, what: str, *, shown_here: bool = False, note: str = ""
) -> None:
    """Send `text` to the terminal's clipboard and say so honestly. `shown_here`: the text is
    already on screen in full (a dialog showing it), so it is not offered a second time; `note`
    is added to what is said (say, that the link is revoked)."""
    app.copy_to_clipboard(text)
    first = app not in _explained
    _explained.add(app)
    if first and not shown_here:
        app.push_screen(CopiedDialog(text, what))
        message = ""
    elif first:
        message = f"{SENT} ({NEEDS}). If nothing arrived, select the {what} shown here."
    elif shown_here:
        message = f"{SENT}."
    else:
        message = f"{SENT}: {text}"
    if message or note:
        app.notify((message + "\n" + note).strip(), markup=False)
