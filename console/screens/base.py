"""What every console screen shares: the header, the footer, `?` for its help, and following the
change feed (one loop, so every live screen reloads on the same rule)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from collections.abc import Set as AbstractSet
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static, TextArea
from textual.widgets.data_table import RowKey
from textual.worker import Worker

from store.domain.refusal import Refused
from store.domain.text import clean_line

from ..context import Console, console_of
from ..widgets.filter_box import FilterBox
from ..widgets.header import UsherHeader


class UsherScreen(Screen[None]):
    HELP: ClassVar[str] = "No help for this screen yet."
    """Plain text shown by `?`: what the screen is for and what its keys do."""

    ROW_DETAIL: ClassVar[bool] = False
    """Show the highlighted table row whole under the body (columns are cut at 80 columns)."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?", show=False),
        # A key text boxes do not take (in them `?` is typed): help from every screen.
        Binding("f11", "help", "Help", key_display="F11", priority=True),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._releases: list[Callable[[], None]] = []
        """Key holds taken until a first load (`follow_changes`)."""

    @property
    def usher(self) -> Console:
        return console_of(self.app)

    def run_latest(
        self,
        work: Callable[[], Coroutine[Any, Any, None]],
        group: str,
        *,
        exit_on_error: bool = True,
    ) -> Worker[None]:
        """Run `work` as the only worker of `group`, cancelling an older one.

        Takes the coroutine function, not a coroutine: a worker cancelled before it starts
        then leaves no never-awaited coroutine behind.
        """
        return self.run_worker(work, exclusive=True, group=group, exit_on_error=exit_on_error)

    def show_refusal(self, refused: Refused, *, doing: str = "", **notify: Any) -> None:
        """A store refusal as an error notification: its message as the store wrote it (never
        read as markup), after `doing` ("Not resent") when given."""
        message = f"{doing}: {refused}" if doing else str(refused)
        self.notify(message, severity="error", markup=False, **notify)

    def run_write(
        self, work: Coroutine[Any, Any, Any], group: str, *, exit_on_error: bool = True
    ) -> Worker[Any]:
        """Run `work`, which stores what the admin asked for: quitting waits for it."""
        worker = self.run_worker(work, group=group, exit_on_error=exit_on_error)
        return self.usher.writes.track(worker)

    def open_filter(self, box: Input) -> None:
        """`/`: show the filter `box` and focus it at once.

        `/` is a priority binding, so this runs as the key is read, before the keys after it
        are handed on: typed fast (or in one SSH burst), "/ann" used to reach the table,
        where `a` approves. In a text field `/` is just typed.
        """
        if isinstance(self.focused, Input | TextArea):
            raise SkipAction
        if isinstance(box, FilterBox):
            box.open()
        else:
            box.add_class("shown")
            self.set_focus(box)

    def follow_changes(
        self, topics: AbstractSet[str], reload: Callable[[], Awaitable[None]], group: str
    ) -> Worker[None]:
        """Call `reload` now, then after every commit that touches `topics` (table names; include
        `store.database.changes.EXTERNAL` for another process's commits, seen within a poll).

        Runs as a worker of `group` for as long as the screen does; stops reloading once the
        app has closed its store. Keys typed meanwhile wait for the first load: F2 then `a` in
        one burst approves the person shown, never "No one to approve here".
        """
        release = self.usher.keys.hold()
        self._releases.append(release)

        async def follow() -> None:
            try:
                store = self.usher.store
                if store is None:
                    return
                async with store.feed.listening() as changes:
                    await reload()
                    release()
                    async for changed in changes:
                        if changed & topics and self.usher.store is not None:
                            await reload()
            finally:
                release()

        supervised = partial(self.usher.supervisor.run, f"Change watcher ({self.TITLE})", follow)
        return self.run_worker(supervised, group=group, exit_on_error=False)

    def on_unmount(self) -> None:
        """A screen closed before its first load gives the keys back all the same."""
        for release in self._releases:
            release()

    def compose(self) -> ComposeResult:
        yield UsherHeader()
        yield from self.compose_body()
        if self.ROW_DETAIL:
            yield Static("", id="row-detail", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    @on(DataTable.RowHighlighted)
    def _show_row_whole(self, event: DataTable.RowHighlighted) -> None:
        if self.ROW_DETAIL:
            self.query_one("#row-detail", Static).update(row_text(event.data_table, event.row_key))

    def compose_body(self) -> ComposeResult:
        yield from ()

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen(self.HELP_TITLE, self.HELP))

    @property
    def HELP_TITLE(self) -> str:
        return self.TITLE or type(self).__name__.removesuffix("Screen")


def row_text(table: DataTable[Any], key: RowKey) -> Text:
    """Every non-empty cell of the row `key` as "Column: value", uncut (user text as data)."""
    text = Text()
    try:
        cells = table.get_row(key)
    except Exception:
        return text
    for column, cell in zip(table.ordered_columns, cells, strict=False):
        whole = getattr(cell, "whole", "") or getattr(cell, "plain", cell)
        value = clean_line(str(whole)).strip()
        if not value:
            continue
        if text:
            text.append(" · ", style="dim")
        label = column.label.plain.strip()
        if label:  # a mark column has no name: its value says what it is
            text.append(f"{label}: ", style="dim")
        text.append(value)
    return text
