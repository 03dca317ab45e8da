"""Ask for a file path: one to open (it must exist) or one to create (it must not).

One dialog for every file the console reads or writes (bulk input, bulk reports and passwords,
the users export), so each refuses a bad path the same way, next to the field, before any work.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ..widgets.text_boxes import SafeInput

Purpose = Literal["open", "create"]


def path_problem(text: str, purpose: Purpose) -> str:
    """Why the path cannot be used for `purpose`, or "" when it can."""
    if not text.strip():
        return "Give a file name."
    path = Path(text.strip()).expanduser()
    if path.is_dir():
        return "That is a folder: add a file name."
    if purpose == "open":
        return "" if path.is_file() else "There is no such file."
    if path.exists():
        return "That file already exists: choose another name."
    if not path.parent.is_dir():
        return f"The folder {str(path.parent)!r} does not exist."
    return ""


class PathDialog(ModalScreen[str | None]):
    """Answers the chosen path (user-expanded), or None when cancelled."""

    CSS_PATH = "path.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        note: str,
        default_path: str,
        *,
        purpose: Purpose,
        action: str,
        label: str = "File",
    ) -> None:
        super().__init__()
        self._title = title
        self._note = note
        self._default = default_path
        self._purpose: Purpose = purpose
        self._action = action
        self._label = label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title, classes="title", markup=False)
            yield Static(self._note, id="note", markup=False)
            yield Label(self._label, markup=False)
            yield SafeInput(value=self._default, id="path")
            yield Static("", id="problem", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button(self._action, id="go", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#go")
    def _go(self) -> None:
        value = self.query_one("#path", Input).value
        problem = path_problem(value, self._purpose)
        self.query_one("#problem", Static).update(problem)
        if not problem:
            self.dismiss(str(Path(value.strip()).expanduser()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
