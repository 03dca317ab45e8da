"""The table of bulk lines (the preview's problem rows, a result's skipped lines).

Rows are keyed by line number and changed in place (remove/add/update only what differs), so
the cursor and scroll stay put while the preview refreshes as the admin types. At most LIMIT
rows are shown: a DataTable's first render of 10,000 rows takes seconds, and the CSV export
holds every line.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from store.onboarding.bulk_lines import BulkLine

LIMIT = 1000
COLUMNS = (
    ("Line", "line"),
    ("First", "first"),
    ("Last", "last"),
    ("Email", "email"),
    ("Pw", "password"),
    ("Problem", "problem"),
)

Cells = tuple[str, str, str, str, str, str]


def line_cells(line: BulkLine) -> Cells:
    return (
        str(line.line),
        line.first_name,
        line.last_name,
        line.email,
        "yes" if line.password else "—",
        line.error or "ready",
    )


class BulkLinesTable(DataTable[Text]):
    DEFAULT_CSS = """
    BulkLinesTable { height: 1fr; min-height: 3; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._rows: dict[str, Cells] = {}

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    @property
    def shown_lines(self) -> list[int]:
        return sorted(int(key) for key in self._rows)

    def show(self, lines: Sequence[BulkLine]) -> int:
        """Show the first LIMIT of `lines`; returns how many are shown."""
        wanted = {str(line.line): line_cells(line) for line in lines[:LIMIT]}
        for key in [key for key in self._rows if key not in wanted]:
            self.remove_row(key)
            del self._rows[key]
        added = False
        for key, cells in wanted.items():
            old = self._rows.get(key)
            if old is None:
                self.add_row(*(self._text(i, cell) for i, cell in enumerate(cells)), key=key)
                added = True
            elif old != cells:
                for index, (before, after) in enumerate(zip(old, cells, strict=True)):
                    if before != after:
                        self.update_cell(
                            key, COLUMNS[index][1], self._text(index, after), update_width=True
                        )
            self._rows[key] = cells
        if added:
            self.sort("line", key=lambda cell: int(cell.plain))
        return len(wanted)

    def row_line(self, row: int) -> int | None:
        """The input line number of the row at index `row`."""
        if not 0 <= row < self.row_count:
            return None
        key = self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
        return int(key) if key is not None else None

    def row_of_line(self, line: int) -> int | None:
        key = str(line)
        if key not in self._rows:
            return None
        return self.get_row_index(key)

    @staticmethod
    def _text(index: int, value: str) -> Text:
        if index == 0:
            return Text(value, justify="right")
        if index == len(COLUMNS) - 1 and value != "ready":
            return Text(value, style="red")
        return Text(value)
