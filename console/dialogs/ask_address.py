"""Ask for one email address (the test message's recipient); dismisses it, or None."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from store.domain.addresses import AddressProblem, UndeliverableAddress, normalise_address

from ..widgets.text_boxes import SafeInput


class AskAddressDialog(ModalScreen[str | None]):
    CSS_PATH = "ask_address.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, hint: str = "") -> None:
        super().__init__()
        self._title = title
        self._hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title, id="title", markup=False)
            yield SafeInput(placeholder="name@example.org", id="address")
            yield Static("", id="error", markup=False)
            yield Static(self._hint or "enter sends · escape cancels", id="hint", markup=False)

    @on(Input.Submitted, "#address")
    def _submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        try:
            address = normalise_address(value)
        except UndeliverableAddress as error:
            self.query_one("#error", Static).update(Text(str(error)))
            return
        except AddressProblem as error:
            self.query_one("#error", Static).update(Text(f"Not an email address: {error}"))
            return
        self.dismiss(address)

    def action_cancel(self) -> None:
        self.dismiss(None)
