"""F11 (or `?`) on any screen: what it is for and which keys act there, as plain text."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

GLOBAL_HELP = (
    "Everywhere: F-keys switch screens (even while typing), ctrl+p opens the command palette, "
    "F11 (or ? outside text boxes) shows this help, q or ctrl+q quits (the embedded server "
    "finishes its requests first)."
)


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f11", "dismiss_help", "Close"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self._title = title
        self._body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._title, classes="title", markup=False)
            yield Static(self._body, markup=False)
            yield Static(GLOBAL_HELP, classes="global", markup=False)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
