"""A link's QR code, full screen, for someone to scan off the admin's terminal."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from ..widgets.qr import qr_text


class QrScreen(ModalScreen[None]):
    CSS_PATH = "qr.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "close", "Close"),
    ]

    def __init__(self, url: str, title: str) -> None:
        super().__init__()
        self.url = url
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical():
            with Center():
                yield Static(qr_text(self.url), id="code")
            yield Static(Text(self._title), classes="caption")
            yield Static(Text(self.url), classes="caption", id="url")
            yield Static("escape closes", classes="caption")

    def action_close(self) -> None:
        self.dismiss(None)
