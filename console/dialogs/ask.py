"""Ask once before something that cannot be undone (send invitations, revoke, replace a link,
create accounts in bulk, close without saving passwords).

One dialog so every "are you sure?" reads and answers the same way: Enter on the focused
button answers, escape or Cancel leaves things as they are; deleting things (`destructive`)
starts on Cancel, has a warning border and takes y/n.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ..key_order import KeyOrder


class AskDialog(ModalScreen[bool]):
    """Answers True to go ahead, False to leave things as they are (escape or Cancel).

    Title and body are user data (addresses, names): shown literally, never as markup. The body
    may hold several lines (one per fact); an empty body is left out. A `destructive` question
    (erase, revoke, replace) has a warning border, starts on Cancel and also takes `y` / `n`;
    any other starts on its confirm button, so Enter goes ahead.
    """

    CSS_PATH = "ask.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
    ]

    def __init__(
        self, title: str, body: str, confirm_label: str, *, destructive: bool = False
    ) -> None:
        super().__init__(classes="destructive" if destructive else None)
        self._title = title
        self._body = body
        self._confirm_label = confirm_label
        self.destructive = destructive

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title, classes="title", markup=False)
            if self._body:
                yield Static(self._body, classes="body", markup=False)
            with Horizontal():
                if self.destructive:
                    yield Button("Cancel", id="cancel", compact=True)
                    yield Button(
                        f"{self._confirm_label} (y)", id="confirm", variant="error", compact=True
                    )
                else:
                    yield Button("Cancel", id="cancel")
                    yield Button(self._confirm_label, id="confirm", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#cancel" if self.destructive else "#confirm", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`y` and `n` answer only a destructive question (elsewhere they stay unbound)."""
        return self.destructive or action != "answer"

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


async def ask_now(
    app: App[Any], keys: KeyOrder, dialog: AskDialog, release: Callable[[], None]
) -> tuple[bool, Callable[[], None]]:
    """Show `dialog` while keys are held (`release` lets them go once it has the focus, so the
    keys typed ahead answer it). Returns the answer and a new hold, taken as it was answered:
    keys typed after the answer wait until the caller's work is done and it calls that."""
    answer: asyncio.Future[tuple[bool, Callable[[], None]]] = (
        asyncio.get_running_loop().create_future()
    )

    def answered(value: bool | None) -> None:
        if not answer.done():
            answer.set_result((bool(value), keys.hold()))

    await app.push_screen(dialog, callback=answered)
    release()
    return await answer


def admin_question(who: str, what: str) -> AskDialog:
    """The one question before anything makes admins (`who`, `what` are plain text)."""
    return AskDialog(f"Make {who} an admin?", what, "Yes, as admin")


def unless_admin_refused(
    app: App[Any], level: str, who: str, what: str, go: Callable[[], object]
) -> None:
    """`go()` now for any level but admin; for admin, after a yes to `admin_question`."""
    if level != "admin":
        go()
        return

    def answered(yes: bool | None) -> None:
        if yes:
            go()

    app.push_screen(admin_question(who, what), answered)
