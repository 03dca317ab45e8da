"""Register an admin: a name, a role and a pasted OpenSSH public key. Dismisses the three, or
None; the store checks them (a refusal is shown next to the fields and the dialog stays)."""

from __future__ import annotations

from typing import ClassVar

import msgspec
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Select, Static, TextArea

from store.accounts.acting import ROLES, Role
from store.accounts.admins import AdminError, checked_name, parse_public_key

from ..widgets.text_boxes import SafeInput, SafeTextArea


class NewAdmin(msgspec.Struct, frozen=True):
    name: str
    role: Role
    key: str


class AdminFormDialog(ModalScreen[NewAdmin | None]):
    CSS_PATH = "admin_form.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Add", priority=True),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Add an admin (SSH key)", id="title", markup=False)
            yield SafeInput(placeholder="name, e.g. olga", id="name")
            yield Select([(role, role) for role in ROLES], value="approver", id="role")
            yield SafeTextArea(id="key")
            yield Static("", id="error", markup=False)
            yield Static(
                "paste their .pub key (ssh-ed25519 AAAA…) · ctrl+s adds · escape cancels",
                id="hint",
                markup=False,
            )

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    @on(Input.Submitted, "#name")
    def _next(self) -> None:
        self.query_one("#key", TextArea).focus()

    def action_save(self) -> None:
        name = self.query_one("#name", Input).value
        role = self.query_one("#role", Select).value
        key = self.query_one("#key", TextArea).text
        try:
            checked_name(name)
            parse_public_key(key)
        except AdminError as error:
            self.query_one("#error", Static).update(Text(str(error)))
            return
        chosen: Role = next((r for r in ROLES if r == role), "approver")
        self.dismiss(NewAdmin(name.strip(), chosen, key))

    def action_cancel(self) -> None:
        self.dismiss(None)
