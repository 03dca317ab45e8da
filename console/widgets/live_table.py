"""Keep a DataTable equal to a list of rows by applying the difference: `add_row` for new keys,
`remove_row` for keys that left, `update_cell` for cells that changed, and a re-order only when
the order is wrong. Never `clear()`: the cursor stays on the same row (by key), the selection
is the caller's, and the rows on screen stay where they were when rows change above them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import msgspec
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, RowDoesNotExist, RowKey


class SyncResult(msgspec.Struct, frozen=True):
    added: list[str]
    removed: list[str]
    changed: list[str]


Rows = Sequence[tuple[str, Sequence[Text]]]


def cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, or None for an empty table."""
    if table.row_count == 0:
        return None
    try:
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except (RowDoesNotExist, IndexError, KeyError):
        return None
    return None if key is None else str(key)


def row_keys(table: DataTable[Any]) -> list[str]:
    """Keys in the order the rows appear."""
    return [str(row.key.value) for row in table.ordered_rows]


def _reorder(table: DataTable[Any], order: list[str]) -> None:
    """Put the rows in `order` with `DataTable.sort` (one pass, keys kept).

    `sort` hands the key function a row's cells, not its key, so rows are recognised by the
    identity of their cell objects. A row whose cells are the very objects of an earlier row's
    (a caller reusing one Text) first gets a copy of its first cell, to be told apart.
    """
    columns = [column.key for column in table.ordered_columns]
    position: dict[tuple[int, ...], int] = {}
    for index, key in enumerate(order):
        cells = table.get_row(key)
        identity = tuple(id(cell) for cell in cells)
        if identity in position and cells and isinstance(cells[0], Text):
            own = cells[0].copy()
            table.update_cell(key, columns[0], own)
            identity = (id(own), *identity[1:])
        position[identity] = index

    def place(cells: Any) -> int:
        values = cells if isinstance(cells, tuple) else (cells,)
        return position[tuple(id(cell) for cell in values)]

    table.sort(*columns, key=place)


def sync_rows(table: DataTable[Any], rows: Rows) -> SyncResult:
    """Make `table` show exactly `rows` ((key, cells) in order) by changing only what differs.

    The cursor stays on its row (by key) and the rows on screen where they were. When every row
    leaves (a new page), the table is emptied at once: `DataTable.remove_row` renumbers every
    later row, so removing a page of 200 one by one took ~170 ms. When some stay, rows are
    removed in one pass (`remove_rows`): refilling would make the table measure every kept
    cell again (~25 us each, 900 rows of 7 cells ~150 ms).
    """
    wanted = {key: cells for key, cells in rows}
    before = row_keys(table)
    held = cursor_key(table)
    held_index = table.cursor_row
    scroll_y = table.scroll_y
    top = int(scroll_y)
    top_key = before[top] if 0 <= top < len(before) else None

    removed = [key for key in before if key not in wanted]
    present = set(before) - set(removed)
    columns = [column.key for column in table.ordered_columns]
    rebuilt = bool(removed) and not present
    if rebuilt:
        table.clear()
    else:
        remove_rows(table, removed)
    added: list[str] = []
    changed: list[str] = []
    for key, cells in rows:
        if key not in present:
            table.add_row(*cells, key=key)
            added.append(key)
        elif _update_row(table, key, columns, cells):
            changed.append(key)

    order = [key for key, _ in rows]
    if not rebuilt and row_keys(table) != order:
        _reorder(table, order)

    if held is not None and held in wanted:
        table.move_cursor(row=table.get_row_index(held), animate=False, scroll=False)
    elif table.row_count:
        table.move_cursor(row=min(held_index, table.row_count - 1), animate=False, scroll=False)
    shift = 0
    if top_key is not None and top_key in wanted and top > 0:
        shift = table.get_row_index(top_key) - top
    if shift or (rebuilt and scroll_y):
        # After the table has measured its new rows (its height changes on refresh).
        table.call_after_refresh(table.scroll_to, y=scroll_y + shift, animate=False)
    return SyncResult(added=added, removed=removed, changed=changed)


def remove_rows(table: DataTable[Any], keys: Sequence[str]) -> None:
    """`DataTable.remove_row` for each of `keys`, in one pass. `remove_row` renumbers every
    later row and re-checks the cursor and the hover (an O(rows) scan) for each row it removes:
    100 approved out of 1,000 shown held the event loop ~100 ms. This leaves the table as those
    calls would (tests/test_live_table.py compares the two), so it reaches into the same
    DataTable attributes `remove_row` keeps (Textual is pinned in requirements.lock)."""
    if len(keys) < 2:
        for key in keys:
            table.remove_row(key)
        return
    gone = {RowKey(key) for key in keys}
    locations = table._row_locations
    missing = gone - set(locations)
    if missing:
        raise RowDoesNotExist(f"Row key {next(iter(missing))!r} is not valid.")
    in_order = (locations.get_key(index) for index in range(len(table.rows)))
    kept = [row for row in in_order if row is not None and row not in gone]
    table._row_locations = TwoWayDict({row: index for index, row in enumerate(kept)})
    for row in gone:
        for column_key in table._data[row]:
            table._updated_cells.discard(CellKey(row, column_key))
        del table.rows[row]
        del table._data[row]
    table._require_update_dimensions = True
    table.check_idle()
    table.cursor_coordinate = table.cursor_coordinate
    table.hover_coordinate = table.hover_coordinate
    table._update_count += 1
    table.refresh(layout=True)


def _update_row(table: DataTable[Any], key: str, columns: list[Any], cells: Sequence[Any]) -> bool:
    """Put in the cells of row `key` that changed; whether any did. The same cell objects as
    shown (a screen that keeps a row's cells while it is unchanged) cost one `is` each."""
    differs = False
    for column, new in zip(columns, cells, strict=False):
        old = table.get_cell(key, column)
        if old is not new and old != new:
            table.update_cell(key, column, new, update_width=True)
            differs = True
    return differs


def room(base: int, spare: int, share: float) -> int:
    """A column's width limit: `base` at 80 columns plus its `share` of the `spare` columns
    a wider terminal has (so names are cut at 80 by 24, not at 120 by 40)."""
    return base + int(max(0, spare) * share)


class Clipped(Text):
    """A cell cut to its column that keeps its whole value (the row detail line shows it)."""

    whole: str = ""


def clip(text: str | Text, width: int) -> Text:
    """`text` cut to `width` cells with an ellipsis, so one long name or address cannot push
    the columns after it off an 80-column terminal (enter, and the line under the table, show
    the whole value)."""
    if isinstance(text, str):
        out = Clipped(text)  # as Text(text): control codes stripped
    else:
        out = Clipped()
        out.append_text(text)
    out.whole = out.plain
    if out.cell_len > width:
        out.truncate(width, overflow="ellipsis")
    return out


class OpenTable(DataTable[Any]):
    """A row table whose `enter` is listed in the footer as "Open": DataTable's own `enter`
    binding is hidden, and as the focused widget's it hides the screen's."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select_cursor", "Open")]
