"""`sync_rows` brings a DataTable to a list of rows by difference: rows are added, removed,
updated and re-ordered by key while the cursor stays on its row."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from console.widgets.live_table import SyncResult, cursor_key, remove_rows, row_keys, sync_rows


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable(id="rows", cursor_type="row")

    def on_mount(self) -> None:
        table = self.table
        table.add_column("Mark", key="mark")
        table.add_column("Name", key="name")

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#rows", DataTable)


def rows(*names: str, mark: str = " ") -> list[tuple[str, list[Text]]]:
    """Rows keyed by name; the same text in the mark column of every row."""
    return [(name, [Text(mark), Text(name.upper())]) for name in names]


def names(table: DataTable[Text]) -> list[str]:
    return [table.get_cell(key, "name").plain for key in row_keys(table)]


async def test_adds_removes_changes_and_reorders_keeping_the_cursor() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.table
        first = sync_rows(table, rows("a", "b", "c", "d"))
        assert first == SyncResult(added=["a", "b", "c", "d"], removed=[], changed=[])
        table.move_cursor(row=2)
        await pilot.pause()
        assert cursor_key(table) == "c"

        wanted = [("e", [Text(" "), Text("E")]), *rows("d", "c"), ("b", [Text(" "), Text("Bee")])]
        result = sync_rows(table, wanted)
        assert result == SyncResult(added=["e"], removed=["a"], changed=["b"])
        assert row_keys(table) == ["e", "d", "c", "b"]
        assert names(table) == ["E", "D", "C", "Bee"]
        assert cursor_key(table) == "c"
        assert table.cursor_row == 2

        assert sync_rows(table, wanted) == SyncResult(added=[], removed=[], changed=[])


async def test_reorders_rows_whose_first_cell_was_replaced_and_whose_text_is_equal() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.table
        sync_rows(table, rows("a", "b", "c"))
        # A screen marks a row in place (as Approvals does for its selection) …
        table.update_cell("b", "mark", Text("✓"))
        table.move_cursor(row=1)
        await pilot.pause()
        # … then the rows come back in another order, cells equal in text across rows.
        sync_rows(table, [*rows("c", "a"), ("b", [Text("✓"), Text("B")])])
        assert row_keys(table) == ["c", "a", "b"]
        assert names(table) == ["C", "A", "B"]
        assert cursor_key(table) == "b"
        assert table.get_cell("b", "mark").plain == "✓"


async def test_the_cursor_stays_in_place_when_its_row_leaves() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.table
        sync_rows(table, rows("a", "b", "c"))
        table.move_cursor(row=2)
        await pilot.pause()
        sync_rows(table, rows("a", "b"))
        assert cursor_key(table) == "b"
        sync_rows(table, [])
        assert table.row_count == 0 and cursor_key(table) is None


async def test_reorders_rows_that_share_their_cell_objects() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)):
        table = app.table
        same = [Text(" "), Text("SAME")]
        sync_rows(table, [("a", same), ("b", same), ("c", [Text(" "), Text("C")])])
        sync_rows(table, [("c", [Text(" "), Text("C")]), ("b", same), ("a", same)])
        assert row_keys(table) == ["c", "b", "a"]
        assert names(table) == ["C", "SAME", "SAME"]


async def test_a_new_page_replaces_every_row_and_keeps_the_cursor_and_scroll_position() -> None:
    """Every key new (the next page): the table is emptied at once rather than row by row; what
    it shows, the result, the cursor's row number and the scroll offset are as before."""
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.table
        first = [f"p1-{i:02}" for i in range(30)]
        sync_rows(table, rows(*first))
        table.move_cursor(row=20)
        await pilot.pause()
        scrolled = table.scroll_y
        assert scrolled > 0

        second = [f"p2-{i:02}" for i in range(30)]
        result = sync_rows(table, rows(*second))
        assert result == SyncResult(added=second, removed=first, changed=[])
        assert row_keys(table) == second
        assert names(table) == [name.upper() for name in second]
        assert cursor_key(table) == "p2-20"
        await pilot.pause()
        assert table.scroll_y == scrolled


class TwoTablesApp(App[None]):
    """The same rows in two tables: one emptied by `remove_rows`, one by `remove_row`."""

    def compose(self) -> ComposeResult:
        yield DataTable(id="batch", cursor_type="row")
        yield DataTable(id="single", cursor_type="row")

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            table.add_column("Mark", key="mark")
            table.add_column("Name", key="name")
            for key, cells in rows(*(f"r{i:03}" for i in range(60))):
                table.add_row(*cells, key=key)


def state(table: DataTable[Text]) -> tuple[object, ...]:
    """What a table shows and where: rows in order with their index and cells, the cursor."""
    keys = row_keys(table)
    return (
        keys,
        [table.get_row_index(key) for key in keys],
        [[cell.plain for cell in table.get_row(key)] for key in keys],
        table.row_count,
        table.cursor_coordinate,
        cursor_key(table),
    )


async def test_removing_many_rows_at_once_leaves_the_table_as_removing_them_one_by_one() -> None:
    app = TwoTablesApp()
    async with app.run_test(size=(40, 30)) as pilot:
        batch = app.query_one("#batch", DataTable)
        single = app.query_one("#single", DataTable)
        for table in (batch, single):
            table.move_cursor(row=55)
        await pilot.pause()
        for gone in (
            ["r000", "r010", "r011", "r030", "r059", "r058"],  # first, a run, the last ones
            [f"r{i:03}" for i in range(1, 50, 2) if i != 11],  # every other row left
        ):
            remove_rows(batch, gone)
            for key in gone:
                single.remove_row(key)
            await pilot.pause()
            assert state(batch) == state(single)
            assert not set(gone) & set(row_keys(batch))
        with pytest.raises(RowDoesNotExist):
            remove_rows(batch, ["r000", "r002"])
        sync_rows(batch, rows("r002", "new", "r004"))  # sync_rows removes through it too
        assert row_keys(batch) == ["r002", "new", "r004"]
