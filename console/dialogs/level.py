"""Choose a user level (for one person or a selection)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from store.domain.vocabulary import LEVELS

DESCRIPTIONS = {
    "admin": "admin — everything, including other admins",
    "manager": "manager — manages people and content",
    "member": "member — the everyday account",
    "viewer": "viewer — can look, not change",
}


class LevelDialog(ModalScreen[str | None]):
    """Answers the chosen level, or None when cancelled."""

    CSS_PATH = "level.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, current: str | None = None) -> None:
        super().__init__()
        self._title = title
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title, classes="title", markup=False)
            yield OptionList(
                *(Option(DESCRIPTIONS.get(level, level), id=level) for level in LEVELS),
                id="levels",
            )

    def on_mount(self) -> None:
        options = self.query_one("#levels", OptionList)
        if self._current in LEVELS:
            options.highlighted = LEVELS.index(self._current)
        options.focus()

    @on(OptionList.OptionSelected, "#levels")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
