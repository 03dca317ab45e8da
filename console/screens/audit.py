"""Audit: who did what, newest first; `/` filters by actor, action or subject."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input

from store.domain.records import AuditEntry

from ..dialogs.audit_entry import AuditEntryDialog
from ..widgets.filter_box import FilterBox
from ..widgets.live_table import clip, sync_rows
from .base import UsherScreen

PAGE = 500


class AuditScreen(UsherScreen):
    ROW_DETAIL = True
    TITLE = "Audit"
    AUTO_FOCUS = "#audit"
    HELP: ClassVar[str] = (
        "Every change with its actor: the OS user (and SSH client) for console actions, the "
        "client address for web ones. Enter opens an entry in full (a rejection's reason, a "
        "level from → to). / filters by actor, action or subject; escape clears."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open"),
        Binding("slash", "filter", "Filter", key_display="/", priority=True),
        Binding("escape", "clear_filter", "Clear", show=False),
    ]
    CSS_PATH = "audit.tcss"

    entries: dict[str, AuditEntry]

    def compose_body(self) -> ComposeResult:
        self.entries = {}
        yield FilterBox("Filter by actor, action or subject")
        yield DataTable(id="audit", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("When", "Actor", "Action", "Subject")
        self.watch(self.app, "activity", self._reload, init=False)
        self.run_latest(self._load, "audit")

    async def _load(self) -> None:
        if self.usher.store is None:
            return
        term = self.query_one("#filter", Input).value.strip()
        entries = await self.usher.store.audit_entries(term, PAGE)
        self.entries = {str(e.id): e for e in entries}
        sync_rows(self.query_one(DataTable), [(str(e.id), self._cells(e)) for e in entries])

    @staticmethod
    def _cells(entry: AuditEntry) -> tuple[Text, ...]:
        return (
            Text(entry.at.astimezone().strftime("%Y-%m-%d %H:%M:%S")),
            clip(entry.actor, 24),
            Text(entry.action.replace("_", " ")),
            Text(entry.subject),
        )

    def selected(self) -> AuditEntry | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.entries.get(str(key))

    def action_open(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.app.push_screen(AuditEntryDialog(entry))

    @on(DataTable.RowSelected, "#audit")
    def _row_chosen(self) -> None:
        self.action_open()

    def _reload(self, *_: object) -> None:
        self.run_latest(self._load, "audit")

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._reload()

    def action_filter(self) -> None:
        self.open_filter(self.query_one(FilterBox))

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        """Enter keeps the filter and goes back to the table (escape clears it)."""
        self.query_one(DataTable).focus()

    def action_clear_filter(self) -> None:
        self.query_one(FilterBox).close()
        self.query_one(DataTable).focus()
