"""One person: their details, what can be changed about them (level, disable/enable, a fresh
set-password link) and their history from the audit log. Stays current while open."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from store.accounts.audit import console_actor
from store.accounts.users import (
    UsersError,
    UserView,
    address_confirmed,
    disable_user,
    enable_user,
    get_user,
    send_set_password_link,
    set_level,
    user_history,
)
from store.domain.clock import ago, lifetime_words
from store.domain.records import AuditEntry
from store.domain.text import clean_line
from store.domain.tokens import SET_PASSWORD_VALID

from ..context import console_of
from ..widgets.language_select import language_words
from ..widgets.live_table import sync_rows
from .level import LevelDialog

if TYPE_CHECKING:
    from store import Store

STATUS_STYLE = {
    "active": "green",
    "pending": "yellow",
    "unconfirmed": "yellow",
    "rejected": "red",
    "disabled": "red",
}


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return f"{moment.astimezone().strftime('%Y-%m-%d %H:%M')} ({ago(moment)})"


def details_text(user: UserView, *, configured_language: str = "") -> Text:
    """The person's facts as data (names and reasons are user text: never markup)."""
    text = Text()
    text.append(clean_line(user.name) or "(no name)", style="bold")
    text.append("  ")
    text.append(clean_line(user.email))
    if not address_confirmed(user):
        text.append("  address not confirmed", style="bold yellow")
    text.append("\n")
    text.append("Level ", style="dim")
    text.append(user.level, style="bold")
    text.append("   Status ", style="dim")
    text.append(user.status, style=f"bold {STATUS_STYLE.get(user.status, '')}".strip())
    text.append("   Via ", style="dim")
    text.append(clean_line(user.via))
    text.append("\nLanguage ", style="dim")
    text.append(language_words(user.language, configured=configured_language))
    text.append("\nSigned up ", style="dim")
    text.append(when(user.created_at))
    if user.decided_at is not None:
        verb = "Rejected" if user.status == "rejected" else "Decided"
        if user.status in {"active", "disabled"}:
            verb = "Approved"
        text.append(f"\n{verb} ", style="dim")
        text.append(when(user.decided_at))
        text.append(" by ", style="dim")
        text.append(clean_line(user.decided_by or "?"))
        if user.decision_reason:
            text.append("\nReason ", style="dim")
            text.append(clean_line(user.decision_reason))
    return text


def history_cells(entry: AuditEntry) -> tuple[Text, ...]:
    values = entry.detail_values()
    details = ", ".join(
        f"{key} {value}" for key, value in values.items() if key != "user_id" and value != ""
    )
    return (
        Text(entry.at.astimezone().strftime("%Y-%m-%d %H:%M")),
        Text(clean_line(entry.actor)),
        Text(entry.action.replace("_", " ")),
        Text(clean_line(details)),
    )


class UserDetailDialog(ModalScreen[None]):
    CSS_PATH = "user_detail.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("l", "level", "Level…"),
        Binding("d", "toggle_disabled", "Disable/enable"),
        Binding("s", "send_link", "Send set-password link"),
    ]

    def __init__(self, store: Store, user_id: int) -> None:
        super().__init__()
        self.store = store
        self.user_id = user_id
        self.user: UserView | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="details")
            yield Static("History", classes="title")
            yield DataTable(id="history", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#history", DataTable)
        table.add_columns("When", "Who", "What", "Details")
        self.run_worker(self._follow(), group="user-detail", exit_on_error=False)

    async def _follow(self) -> None:
        async with self.store.feed.listening() as changes:
            await self.reload()
            async for _ in changes:
                await self.reload()

    async def reload(self) -> None:
        user = await get_user(self.store.engine, self.user_id)
        if user is None:
            self.query_one("#details", Static).update(Text("This user no longer exists."))
            self.user = None
            return
        self.user = user
        configured = console_of(self.app).settings.language
        self.query_one("#details", Static).update(
            details_text(user, configured_language=configured)
        )
        history = await user_history(self.store.engine, user)
        table = self.query_one("#history", DataTable)
        sync_rows(table, [(str(entry.id), history_cells(entry)) for entry in history])

    def action_close(self) -> None:
        self.dismiss(None)

    def action_level(self) -> None:
        user = self.user
        if user is None:
            return

        def answered(level: str | None) -> None:
            if level is not None:
                change = set_level(self.store, [user.id], level, actor=console_actor())
                self._start(self._act(change, f"Level is now {level}."))

        self.app.push_screen(
            LevelDialog(f"Level for {clean_line(user.email)}", user.level), answered
        )

    def action_toggle_disabled(self) -> None:
        user = self.user
        if user is None:
            return
        actor = console_actor()
        if user.status == "disabled":
            self._start(self._act(enable_user(self.store, user.id, actor=actor), "Enabled."))
        else:
            self._start(self._act(disable_user(self.store, user.id, actor=actor), "Disabled."))

    def action_send_link(self) -> None:
        user = self.user
        if user is None:
            return
        self._start(
            self._act(
                send_set_password_link(self.store, user.id, actor=console_actor()),
                f"A set-password link (valid {lifetime_words(SET_PASSWORD_VALID)}) is queued in "
                "the outbox.",
            )
        )

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a change the admin asked for as the app's worker, not this dialog's: closing the
        dialog right behind the key (`d ⎋`) would cancel it. Quitting waits for it."""
        console_of(self.app).writes.track(self.app.run_worker(work, group="user-change"))

    async def _act(self, operation: Awaitable[object], done: str = "") -> None:
        """Run one store operation; its refusal is a notification, never a traceback."""
        try:
            await operation
        except UsersError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        if done:
            self.notify(done, markup=False)
        with contextlib.suppress(NoMatches):  # the dialog closed meanwhile: nothing to show
            await self.reload()
