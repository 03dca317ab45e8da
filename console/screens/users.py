"""Users: everyone, searchable, filtered and sorted in SQL and shown a page at a time, so 50,000
users cost what 200 do. `enter` opens a person (level, disable/enable, set-password link,
history); `x` exports the whole current view (every page) as CSV."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Select, Static

from store.accounts.users import (
    LEVELS,
    SOURCES,
    STATUSES,
    UserPage,
    UserQuery,
    UserView,
    export_users_csv,
    page_users,
)
from store.database.changes import EXTERNAL
from store.domain.csv_safe import export_folder
from store.domain.refusal import Refused
from store.domain.text import clean_line

from ..dialogs.erase_user import ask_and_erase
from ..dialogs.path import PathDialog
from ..dialogs.user_detail import STATUS_STYLE, UserDetailDialog
from ..widgets.language_select import language_cell
from ..widgets.live_table import OpenTable, clip, cursor_key, room, sync_rows
from ..widgets.text_boxes import SafeInput
from .base import UsherScreen

PAGE_SIZE = 200
"""Rows in the table at once: a DataTable's first render grows with its rows (50,000 ≈ 9 s)."""
TOPICS = frozenset({"users", "invite_links", EXTERNAL})

SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "name": "By name",
    "email": "By email",
    "status": "By status",
    "level": "By level",
}
SOURCE_LABELS = {"link": "Link", "invitation": "Invitation", "single": "Added", "bulk": "Bulk"}


class UsersScreen(UsherScreen):
    ROW_DETAIL = True
    TITLE = "Users"
    AUTO_FOCUS = "#users"
    HELP: ClassVar[str] = (
        "Everyone with an account. Search by name or email, narrow by status, level and "
        "source, and sort; the table shows a page at a time.\n\n"
        "/  search (tab moves on to the status, level, source and sort choices)\n"
        "enter  open the person: change level (l), disable or enable (d), send a fresh "
        "set-password link (s), and their history\n"
        "] / [  next and previous page\n"
        "x  export the current view (all pages, with its filters and sort) as CSV; the file is "
        "readable only by you, and cells a spreadsheet would run as formulas are neutralised\n"
        "delete (or X)  erase the person everywhere (asks once; the audit keeps a pseudonym)\n"
        "escape  back to the table"
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=True),
        Binding("slash", "search", "Search", key_display="/", priority=True),
        Binding("right_square_bracket", "next_page", "Next", key_display="]"),
        Binding("left_square_bracket", "previous_page", "Prev", key_display="["),
        Binding("x", "export", "Export"),
        Binding("n", "app.switch_mode('add_user')", "Add user"),
        Binding("delete,X", "erase", "Erase", key_display="del"),
        Binding("escape", "to_table", "Table", show=False),
    ]
    CSS_PATH = "users.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.page = UserPage(users=[], offset=0, total=0)
        self.page_offset = 0
        self._asked: UserQuery | None = None
        """The view last read: the filter bar's widgets announce their first values as changes
        when they mount, and each such reload of the same view re-read and re-drew the page."""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="filters"):
            yield SafeInput(placeholder="Name or email", id="search", compact=True)
            yield Select(
                [("Any status", ""), *((status, status) for status in STATUSES)],
                allow_blank=False,
                id="by-status",
                compact=True,
            )
            yield Select(
                [("Any level", ""), *((level, level) for level in LEVELS)],
                allow_blank=False,
                id="by-level",
                compact=True,
            )
            yield Select(
                [("Any source", ""), *((SOURCE_LABELS[s], s) for s in SOURCES)],
                allow_blank=False,
                id="by-source",
                compact=True,
            )
            yield Select(
                [(label, sort) for sort, label in SORT_LABELS.items()],
                allow_blank=False,
                id="by-sort",
                compact=True,
            )
        yield OpenTable(id="users", cursor_type="row", zebra_stripes=True)
        yield Static(id="pageinfo")

    def on_mount(self) -> None:
        table = self.table
        table.add_column("Name", key="name")
        table.add_column("Email", key="email")
        table.add_column("Level", key="level")
        table.add_column("Lang", key="language")
        table.add_column("Status", key="status")
        table.add_column("Via", key="via")
        table.add_column("Signed up", key="created")
        table.focus()
        self.follow_changes(TOPICS, self.reload, "users-feed")

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#users", DataTable)

    # ---------------------------------------------------------------- the view

    def view_query(self) -> UserQuery:
        """The view as chosen in the filter bar (also what `x` exports)."""
        return UserQuery(
            term=self.query_one("#search", Input).value,
            status=self._choice("#by-status"),  # type: ignore[arg-type]
            level=self._choice("#by-level"),  # type: ignore[arg-type]
            source=self._choice("#by-source"),  # type: ignore[arg-type]
            sort=self._choice("#by-sort") or "newest",  # type: ignore[arg-type]
        )

    def _choice(self, selector: str) -> str | None:
        value: Any = self.query_one(selector, Select).value
        return value if isinstance(value, str) and value else None

    async def reload(self) -> None:
        store = self.usher.store
        if store is None:
            return
        query = self.view_query()
        self._asked = query
        page = await page_users(store.engine, query, offset=self.page_offset, limit=PAGE_SIZE)
        if query != self.view_query():
            return  # the view changed while we read; the reload for the new one follows
        self.page = page
        self.page_offset = page.offset
        sync_rows(self.table, [(str(user.id), self._cells(user)) for user in page.users])
        self._show_pageinfo()

    def _reload_soon(self, *, first_page: bool = True) -> None:
        if first_page:
            self.page_offset = 0
        self._reload_view()

    @work(exclusive=True, group="users-view")
    async def _reload_view(self) -> None:
        """The latest view wins: a newer one cancels a reload still reading."""
        await self.reload()

    def _cells(self, user: UserView) -> list[Text]:
        spare = self.app.size.width - 80
        return [
            clip(clean_line(user.name) or "—", room(15, spare, 0.3)),
            clip(clean_line(user.email), room(23, spare, 0.4)),  # 6 cells went to Lang
            Text(user.level),
            language_cell(user.language),
            Text(user.status, style=STATUS_STYLE.get(user.status, "")),
            clip(clean_line(user.via), room(14, spare, 0.1)),
            Text(_date(user.created_at)),
        ]

    def _show_pageinfo(self) -> None:
        page = self.page
        text = Text(no_wrap=True, overflow="ellipsis")
        if page.total == 0:
            text.append("No users match." if self._filtered() else "No users yet.")
        else:
            last = page.offset + len(page.users)
            text.append(f"{page.offset + 1:,}-{last:,} of {page.total:,}", style="bold")
            if page.total > PAGE_SIZE:
                text.append("  ] next page  [ previous")
        self.query_one("#pageinfo", Static).update(text)

    def _filtered(self) -> bool:
        query = self.view_query()
        return bool(query.term.strip() or query.status or query.level or query.source)

    @on(Input.Changed, "#search")
    @on(Select.Changed)
    def _view_changed(self) -> None:
        if self.view_query() != self._asked:
            self._reload_soon()

    @on(Input.Submitted, "#search")
    def action_to_table(self) -> None:
        self.table.focus()

    def action_search(self) -> None:
        self.open_filter(self.query_one("#search", Input))

    def action_next_page(self) -> None:
        if self.page.offset + PAGE_SIZE < self.page.total:
            self.page_offset = self.page.offset + PAGE_SIZE
            self._reload_soon(first_page=False)

    def action_previous_page(self) -> None:
        if self.page.offset > 0:
            self.page_offset = max(0, self.page.offset - PAGE_SIZE)
            self._reload_soon(first_page=False)

    # ---------------------------------------------------------------- one person

    @on(DataTable.RowSelected, "#users")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        key = cursor_key(self.table)
        store = self.usher.store
        if key is None or store is None:
            return
        self.app.push_screen(UserDetailDialog(store, int(key)))

    async def action_erase(self) -> None:
        key = cursor_key(self.table)
        if key is not None:
            await ask_and_erase(self, int(key))

    # ---------------------------------------------------------------- export

    def action_export(self) -> None:
        query = self.view_query()
        total = self.page.total
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        note = f"{total:,} user{'s' if total != 1 else ''} in the current view (all pages)."

        def answered(path: str | None) -> None:
            if path is not None:
                self.run_write(self._export(query, path), group="users-export")

        dialog = PathDialog(
            "Export users as CSV",
            note,
            str(export_folder() / f"users-{stamp}.csv"),
            purpose="create",
            action="Export",
            label="File (created readable only by you, mode 0600)",
        )
        self.app.push_screen(dialog, answered)

    async def _export(self, query: UserQuery, path: str) -> None:
        store = self.usher.store
        if store is None:
            return
        try:
            count = await export_users_csv(store.engine, query, path)
        except Refused as error:
            self.show_refusal(error)
            return
        where = Path(path).resolve()
        users = f"{count:,} user{'s' if count != 1 else ''}"
        self.notify(f"Wrote {users} to {where}", markup=False)


def _date(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")
