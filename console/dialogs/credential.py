"""A generated one-time password, shown once: `c` copies it (OSC 52), `enter` or `escape` closes.

It is stored only as a digest, so this dialog is the only place it can ever be read."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from store.domain.text import clean_line

from .copied import copy_and_tell


class CredentialDialog(ModalScreen[None]):
    CSS_PATH = "credential.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy"),
        Binding("escape,enter", "close", "Done"),
    ]

    def __init__(self, *, email: str, name: str, credential: str, expires_at: datetime) -> None:
        super().__init__()
        self.email = email
        self.name_shown = name
        self.credential = credential
        self.expires_at = expires_at
        self.copied = False

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "One-time password"
            who = Text("For ")
            if self.name_shown:
                who.append(clean_line(self.name_shown), style="bold")
                who.append(" ")
            who.append(f"<{clean_line(self.email)}>")
            yield Static(who)
            yield Static(Text(self.credential), id="credential")
            expires = self.expires_at.strftime("%Y-%m-%d %H:%M UTC")
            yield Static(
                Text(
                    "Shown only now: it is not stored anywhere and never emailed. Give it to "
                    f"them yourself. It expires {expires} and must be changed at first sign-in."
                ),
                classes="note",
            )
            with Horizontal():
                yield Button("Copy (c)", id="copy", compact=True)
                yield Button("Done", id="done", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#done", Button).focus()

    @on(Button.Pressed, "#copy")
    def action_copy(self) -> None:
        copy_and_tell(self.app, self.credential, "password", shown_here=True)
        self.copied = True

    @on(Button.Pressed, "#done")
    def action_close(self) -> None:
        self.dismiss(None)
