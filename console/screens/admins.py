"""Admins: who may open the console over SSH, with which key and role (owners only: the store
refuses everyone else). `n` adds one from a pasted key, `e` cycles the role, `r` removes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from store.accounts.acting import ROLES, NotAllowed
from store.accounts.admins import Admin, AdminError, add_admin, list_admins, remove_admin, set_role
from store.accounts.audit import console_actor
from store.database.changes import EXTERNAL

from ..dialogs.admin_form import AdminFormDialog, NewAdmin
from ..dialogs.ask import AskDialog
from ..widgets.live_table import sync_rows
from .base import UsherScreen


class AdminsScreen(UsherScreen):
    TITLE = "Admins"
    AUTO_FOCUS = "#admins"
    HELP: ClassVar[str] = (
        "The admins who open this console over SSH (usher serve --ssh-port), each with one "
        "key and a role: owner (everything), manager (links, invitations, users, bulk, "
        "approvals), approver (approvals and reading). n adds one from a pasted public key, "
        "e changes the selected admin's role, r removes them (their sessions end)."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New"),
        Binding("e", "edit", "Role"),
        Binding("r", "remove", "Remove"),
        Binding("escape", "app.pop_screen", "Back"),
    ]
    CSS_PATH = "admins.tcss"

    def compose_body(self) -> ComposeResult:
        yield Static(
            "No admins yet: n adds one from their SSH public key.", id="empty", markup=False
        )
        yield DataTable(id="admins", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Name", "Role", "Key")
        self.follow_changes({"admins", EXTERNAL}, self._load, "admins-feed")

    async def _load(self) -> None:
        store = self.usher.store
        if store is None:
            return
        admins = await list_admins(store)
        rows = [(a.name, (Text(a.name), Text(a.role), Text(a.fingerprint))) for a in admins]
        sync_rows(self.query_one(DataTable), rows)
        self.query_one("#empty").display = not admins

    def selected(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return None if key is None else str(key)

    def _run(self, work: Callable[[], Awaitable[Admin]], said: Callable[[Admin], str]) -> None:
        async def runner() -> None:
            try:
                admin = await work()
            except (AdminError, NotAllowed) as error:
                self.notify(str(error), title="Not done", severity="error", markup=False)
                return
            await self._load()
            self.notify(said(admin), markup=False)

        self.run_write(runner(), group="admins-action")

    def action_new(self) -> None:
        self.app.push_screen(AdminFormDialog(), self._add)

    def _add(self, new: NewAdmin | None) -> None:
        store = self.usher.store
        if new is None or store is None:
            return
        self._run(
            lambda: add_admin(store, new.name, new.key, new.role, actor=console_actor()),
            lambda a: f"Added {a.name} ({a.role}), key {a.fingerprint}",
        )

    def action_edit(self) -> None:
        name, store = self.selected(), self.usher.store
        if name is None or store is None:
            return
        row = self.query_one(DataTable).get_row(name)
        current = str(row[1])
        role = ROLES[(ROLES.index(current) + 1) % len(ROLES)] if current in ROLES else ROLES[0]
        self._run(
            lambda: set_role(store, name, role, actor=console_actor()),
            lambda a: f"{a.name} is now {a.role}",
        )

    def action_remove(self) -> None:
        name = self.selected()
        if name is None:
            return
        dialog = AskDialog(
            f"Remove {name}?",
            "Their key stops working and their sessions end.",
            "Remove",
            destructive=True,
        )
        self.app.push_screen(dialog, lambda yes: self._remove(name) if yes else None)

    def _remove(self, name: str) -> None:
        store = self.usher.store
        if store is None:
            return
        self._run(
            lambda: remove_admin(store, name, actor=console_actor()),
            lambda a: f"Removed {a.name}",
        )
