"""After a bulk creation: "X of Y created", the skipped lines with reasons, and — once only —
the random one-time passwords. `w` writes the passwords to a 0600 CSV, `x` the problem report."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from store.domain.clock import lifetime_words
from store.domain.csv_safe import ExportError, export_folder
from store.domain.text import clean_line
from store.domain.tokens import ONE_TIME_CREDENTIAL_VALID
from store.onboarding.bulk import BulkResult, write_credentials, write_problem_report

from ..widgets.bulk_table import LIMIT, BulkLinesTable
from ..words import counted
from .ask import AskDialog
from .path import PathDialog


def result_notes(result: BulkResult, smtp: bool) -> list[str]:
    notes = [f"Level {result.level} · passwords: {result.passwords}"]
    if result.emails_queued:
        where = "queued" if smtp else "kept in the Outbox (no SMTP configured)"
        notes.append(f"{counted(result.emails_queued, 'email')} with a set-password link {where}.")
    skipped = len(result.skipped)
    notes.append(
        f"{counted(skipped, 'line')} skipped (below; x saves the report)."
        if skipped
        else "No line was skipped."
    )
    return notes


class BulkResultDialog(ModalScreen[None]):
    CSS_PATH = "bulk_result.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "save_passwords", "Save passwords"),
        Binding("x", "export_problems", "Export problems"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, result: BulkResult, *, smtp: bool) -> None:
        super().__init__()
        self.result = result
        self._smtp = smtp
        self.passwords_saved_to: str | None = None
        self._by_line = {line.line: line for line in result.skipped}

    def compose(self) -> ComposeResult:
        result = self.result
        with Vertical():
            yield Static(result.summary, classes="title", markup=False, id="summary")
            for note in result_notes(result, self._smtp):
                yield Static(note, classes="note", markup=False)
            if result.credentials:
                count = len(result.credentials)
                shown = min(count, LIMIT)
                more = f", the first {shown:,} shown" if shown < count else ""
                yield Static(
                    f"One-time passwords ({count:,}{more}): shown only now — w saves them",
                    classes="section",
                    markup=False,
                )
                yield DataTable(id="credentials", cursor_type="row", zebra_stripes=True)
                yield Static("", id="credential-detail", markup=False)
            if result.skipped:
                yield Static("Skipped lines", classes="section")
                yield BulkLinesTable(id="skipped")
                yield Static("", id="detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        if self.result.credentials:
            table = self.query_one("#credentials", DataTable)
            # The secret first, then the address: neither is ever cut at 80 columns (names may
            # be; the line under the table shows the highlighted row whole).
            table.add_columns("Line", "One-time password", "Email", "Name")
            table.add_rows(
                (
                    Text(str(item.line), justify="right"),
                    Text(item.credential, style="bold"),
                    Text(item.email),
                    Text(f"{item.first_name} {item.last_name}".strip()),
                )
                for item in self.result.credentials[:LIMIT]
            )
            table.focus()
        if self.result.skipped:
            skipped = self.query_one("#skipped", BulkLinesTable)
            skipped.show(self.result.skipped)
            if not self.result.credentials:
                skipped.focus()

    @on(DataTable.RowHighlighted, "#credentials")
    def _credential_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted person whole: address and name (the table cuts long ones)."""
        credentials = self.result.credentials
        item = credentials[event.cursor_row] if 0 <= event.cursor_row < len(credentials) else None
        text = Text()
        if item is not None:
            name = clean_line(f"{item.first_name} {item.last_name}".strip())
            text.append(f"Line {item.line}: ")
            text.append(clean_line(item.email), style="bold")
            if name:
                text.append(f" · {name}")
        self.query_one("#credential-detail", Static).update(text)

    @on(DataTable.RowHighlighted, "#skipped")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted line's whole reason (the table's last column is cut at 80 columns)."""
        key = event.row_key.value
        line = self._by_line.get(int(key)) if key is not None else None
        text = f"Line {line.line}: {line.error}" if line is not None else ""
        self.query_one("#detail", Static).update(Text(text, no_wrap=True, overflow="ellipsis"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save_passwords":
            return bool(self.result.credentials)
        if action == "export_problems":
            return bool(self.result.skipped)
        return True

    def action_save_passwords(self) -> None:
        self.app.push_screen(
            PathDialog(
                "Save the one-time passwords",
                "A CSV created readable only by you (mode 0600). Hand each person theirs; "
                f"they expire in {lifetime_words(ONE_TIME_CREDENTIAL_VALID)} and must be changed "
                "at first sign-in.",
                str(export_folder() / f"usher-passwords-{self.result.batch_id}.csv"),
                purpose="create",
                action="Save",
            ),
            callback=self._save_passwords,
        )

    async def _save_passwords(self, path: str | None) -> None:
        if path is None:
            return
        try:
            count = await asyncio.to_thread(write_credentials, path, self.result.credentials)
        except (ExportError, OSError) as error:
            self.notify(f"Not saved: {error}", severity="error", timeout=8)
            return
        self.passwords_saved_to = path
        self.notify(f"Saved {counted(count, 'one-time password')} to {path} (mode 0600).")

    def action_export_problems(self) -> None:
        self.app.push_screen(
            PathDialog(
                "Export the skipped lines",
                "A CSV of every skipped line with its reasons (passwords masked).",
                str(export_folder() / f"usher-problems-{self.result.batch_id}.csv"),
                purpose="create",
                action="Export",
            ),
            callback=self._export_problems,
        )

    async def _export_problems(self, path: str | None) -> None:
        if path is None:
            return
        try:
            count = await asyncio.to_thread(write_problem_report, path, self.result.skipped)
        except (ExportError, OSError) as error:
            self.notify(f"Not exported: {error}", severity="error", timeout=8)
            return
        self.notify(f"Exported {counted(count, 'skipped line')} to {path}.")

    def action_close(self) -> None:
        if self.result.credentials and self.passwords_saved_to is None:
            self.app.push_screen(
                AskDialog(
                    "Close without saving the one-time passwords?",
                    "They are not stored anywhere and cannot be shown again. The users "
                    "can still choose a password with the emailed link, if they were "
                    "notified.",
                    "Close",
                ),
                callback=self._close_anyway,
            )
            return
        self.dismiss(None)

    def _close_anyway(self, close: bool | None) -> None:
        if close:
            self.dismiss(None)
