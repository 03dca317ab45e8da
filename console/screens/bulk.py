"""Bulk ("Advanced"): paste or load lines of `FirstName LastName,Email[,Password]`, see every
problem with its line number as you type, choose level and password mode, and add them all.

The preview is debounced and parsed in a worker thread (`store.onboarding.bulk.preview`), and the
table shows only the problem rows, so 10,000 lines never lag. Add Users asks once, then credentials
are made with a progress bar (escape cancels: nothing is written) and everything commits in
one transaction; the result dialog shows "X of Y created", the skipped lines and, once, the
random passwords.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import ClassVar

import msgspec
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Input,
    Label,
    ProgressBar,
    RadioSet,
    Static,
    TextArea,
)

from store.accounts.audit import console_actor
from store.database.engine import DatabaseError
from store.domain.clock import lifetime_words
from store.domain.csv_safe import ExportError, export_folder
from store.domain.records import Level
from store.domain.tokens import ONE_TIME_CREDENTIAL_VALID
from store.onboarding.bulk import (
    BulkCancelled,
    BulkError,
    BulkOptions,
    BulkResult,
    Phase,
    Progress,
    check_existing,
    create_batch,
    shared_password_problem,
    write_problem_report,
)
from store.onboarding.bulk_lines import BulkLine, ParsedLines, PasswordMode, parse_bulk_lines

from ..debounce import Debounce
from ..dialogs.ask import AskDialog
from ..dialogs.bulk_result import BulkResultDialog
from ..dialogs.path import PathDialog
from ..latest_check import LatestCheck
from ..widgets.bulk_table import BulkLinesTable
from ..widgets.language_select import LanguageSelect, language_words
from ..widgets.levels import level_choices
from ..widgets.text_boxes import SafeInput, SafeTextArea
from ..widgets.toggles import Choice, Tick, start_at_chosen
from .base import UsherScreen

DEBOUNCE = 0.3
"""Seconds of quiet typing before the preview is refreshed."""
MAX_FILE_BYTES = 50 * 1024 * 1024
MODES: tuple[tuple[PasswordMode, str], ...] = (
    ("random", "Random for each"),
    ("same", "One for all"),
    ("given", "Given on each line"),
)
HINT = "FirstName LastName,Email[,Password] — or spreadsheet rows; ctrl+o opens a .csv"


def read_lines_file(path: str) -> str:
    """The text of a .csv to load (blocking: run in a thread). Raises ValueError for people."""
    target = Path(path)
    if target.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"the file is larger than {MAX_FILE_BYTES // 2**20} MB")
    try:
        return target.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text: save it as “CSV UTF-8”") from None


def progress_text(progress: Progress) -> str:
    if progress.phase == "writing":
        return f"Writing {progress.total:,} accounts in one transaction… (too late to cancel)"
    left = progress.seconds_left
    eta = f" · {left:,.0f} s left" if left is not None else ""
    return (
        f"{progress.done:,} / {progress.total:,} · {progress.rate:,.0f}/s{eta}"
        "   (esc cancels: nothing is written)"
    )


class BulkScreen(UsherScreen):
    TITLE = "Bulk"
    HELP: ClassVar[str] = (
        "Create many accounts at once. Type or paste one person a line: "
        "FirstName LastName,Email — add ,Password when passwords are given on each line. "
        "Quoted CSV fields, tab-separated rows from a spreadsheet and a header row naming "
        "first / last / name / email / password columns all work; ctrl+o loads a .csv file, "
        "ctrl+l empties the box.\n\n"
        "The preview below lists every line with a problem (invalid email, missing name, "
        "duplicate in the list, an existing account, a missing or weak password, too many "
        "fields); ctrl+n jumps to the next one in the text, enter on a row too. "
        "ctrl+t shows every parsed row instead.\n\n"
        "Passwords: one for all (typed once, hashed once, changed at first sign-in); random for "
        "each (one-time passwords shown to you once at the end — w saves them to a private CSV; "
        f"they expire in {lifetime_words(ONE_TIME_CREDENTIAL_VALID)}); or given on each line. "
        "Notified users get an email with a "
        "single-use link to choose their password; passwords are never emailed.\n\n"
        "ctrl+s (or the button) adds the users after asking once; escape cancels while passwords "
        "are being prepared, and then nothing is written. x exports the problem lines as CSV."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "add_users", "Add users"),
        Binding("ctrl+l", "clear", "Clear", key_display="^l"),
        Binding("ctrl+o", "open_file", "Open .csv"),
        Binding("ctrl+n", "next_problem", "Next problem"),
        Binding("ctrl+t", "toggle_rows", "All rows"),
        Binding("x", "export_problems", "Export"),
        Binding("escape", "cancel_import", "Cancel"),
    ]
    CSS_PATH = "bulk.tcss"

    def __init__(self) -> None:
        super().__init__()
        self._debounce = Debounce(self, DEBOUNCE, self._start_preview)
        self._parsed: ParsedLines | None = None
        """The last parse, before the database check (re-checked when the database changes)."""
        self.preview: ParsedLines | None = None
        """The last preview shown (parse + existing accounts)."""
        self._pending = False
        self._all_rows = False
        self._must_change_choice = True
        self.importing = False
        self._cancel = False
        self._phase: Phase = "hashing"
        self.last_result: BulkResult | None = None
        self._by_line: dict[int, BulkLine] = {}
        """The rows in the preview table, by line number."""
        self._org = ""
        self.shared_check: LatestCheck[str, str | None] = LatestCheck(
            self, self._estimate_shared, self._shared_checked, group="bulk-shared-strength"
        )
        """The "one for all" password's strength estimate, in a thread, for what is typed now."""

    # ---------------------------------------------------------------- layout

    def compose_body(self) -> ComposeResult:
        yield Static(HINT, id="hint", markup=False)
        yield SafeTextArea(
            id="lines", soft_wrap=False, show_line_numbers=True, tab_behavior="focus"
        )
        with Horizontal(classes="row"):
            yield Label("Level")
            with RadioSet(id="level", compact=True):
                yield from level_choices()
        with Horizontal(classes="row"):
            yield Label("Passwords")
            with RadioSet(id="mode", compact=True):
                for mode, label in MODES:
                    yield Choice(label, value=mode == "random", name=mode)
        with Horizontal(classes="row"):
            yield Label("Language")
            yield LanguageSelect(configured=self.usher.settings.language, id="language")
        with Horizontal(classes="row", id="shared-row"):
            yield Label("For all")
            yield SafeInput(
                id="shared", password=True, compact=True, placeholder="the password for all"
            )
            yield Static("", id="shared-problem", markup=False)
        with Horizontal(classes="row"):
            yield Tick("Must change at first sign-in", True, id="must-change", compact=True)
            yield Tick("Notify users by email", True, id="notify", compact=True)
        yield Static("Preview: type or paste lines above.", id="summary", markup=False)
        yield BulkLinesTable(id="preview")
        yield Static("", id="detail", markup=False)
        with Horizontal(id="actions"):
            yield Button("Add users", id="add", compact=True, variant="primary", disabled=True)
            yield ProgressBar(id="progress", show_eta=False)
            yield Static("", id="progress-text", markup=False)

    def on_mount(self) -> None:
        self._org = self.usher.settings.org
        start_at_chosen(self.query(RadioSet))
        self._sync_mode()
        self.watch(self.app, "counts", self._database_changed, init=False)
        self.query_one("#lines", TextArea).focus()

    # ---------------------------------------------------------------- reading the form

    @property
    def lines_area(self) -> TextArea:
        return self.query_one("#lines", TextArea)

    @property
    def mode(self) -> PasswordMode:
        pressed = self.query_one("#mode", RadioSet).pressed_button
        name = pressed.name if pressed is not None else "random"
        for mode, _ in MODES:
            if mode == name:
                return mode
        return "random"

    @property
    def level(self) -> Level:
        pressed = self.query_one("#level", RadioSet).pressed_button
        name = pressed.name if pressed is not None else "member"
        for level in ("admin", "manager", "member", "viewer"):
            if level == name:
                return level
        return "member"

    def options(self) -> BulkOptions:
        mode = self.mode
        return BulkOptions(
            level=self.level,
            passwords=mode,
            shared_password=self.query_one("#shared", Input).value if mode == "same" else None,
            must_change_password=self.query_one("#must-change", Checkbox).value,
            notify=self.query_one("#notify", Checkbox).value,
            language=self.query_one("#language", LanguageSelect).language,
        )

    # ---------------------------------------------------------------- live preview

    @on(TextArea.Changed, "#lines")
    def _lines_changed(self) -> None:
        if not self.importing:  # "4 of 7 created" is about the last import, not these lines
            self.query_one("#progress-text", Static).update("")
        self._schedule_preview()

    def action_clear(self) -> None:
        """Empty the box (ctrl+z brings the text back), as ctrl+l does on Invite."""
        if self.importing:
            return
        self.lines_area.clear()
        self.lines_area.focus()

    @on(RadioSet.Changed, "#mode")
    def _mode_changed(self) -> None:
        self._sync_mode()
        self._schedule_preview(delay=0.0)

    @on(Input.Changed, "#shared")
    def _shared_changed(self) -> None:
        self._show_shared_problem()
        self._refresh_add_button()

    @on(Checkbox.Changed, "#must-change")
    def _must_change_changed(self, event: Checkbox.Changed) -> None:
        if self.mode == "given":
            self._must_change_choice = event.value

    def _sync_mode(self) -> None:
        """ "One for all" shows its field; only given passwords may skip the forced change."""
        mode = self.mode
        self.query_one("#shared-row").set_class(mode == "same", "shown")
        box = self.query_one("#must-change", Checkbox)
        if mode == "given":
            box.disabled = False
            box.value = self._must_change_choice
        else:
            box.value = True
            box.disabled = True
        self._show_shared_problem()

    def _shared_verdict(self) -> tuple[str | None, bool]:
        """(why the "one for all" password is refused, still checking): the cheap checks at
        once, the strength estimate from its thread."""
        value = self.query_one("#shared", Input).value
        problem = shared_password_problem(value, org=self._org, estimate_strength=False)
        self.shared_check.want(None if problem or self.mode != "same" else value)
        if problem:
            return problem, False
        answered = self.shared_check.answer(value)
        return (None, True) if answered is None else (answered[0], False)

    def _estimate_shared(self, value: str) -> str | None:
        return shared_password_problem(value, org=self._org)  # in a worker thread

    def _shared_checked(self) -> None:
        self._show_shared_problem()
        self._refresh_add_button()

    def _show_shared_problem(self) -> None:
        label = self.query_one("#shared-problem", Static)
        if self.mode != "same":
            self.shared_check.want(None)
            label.update("")
            return
        value = self.query_one("#shared", Input).value
        problem, checking = self._shared_verdict()
        if not value:
            label.update(Text("type it once; it is checked", style="dim"))
        elif checking:
            label.update(Text("checking…", style="dim"))
        elif problem:
            label.update(Text(problem, style="red"))
        else:
            label.update(Text("✓ accepted", style="green"))

    def _schedule_preview(self, delay: float = DEBOUNCE) -> None:
        self._pending = True
        self._debounce.poke(delay)

    def _start_preview(self) -> None:
        text = self.lines_area.text
        if self.mode == "given" and text.strip():  # each new password's estimate: a few ms
            self.query_one("#summary", Static).update("Preview: checking passwords…")
        self.run_worker(self._preview(text, self.mode), exclusive=True, group="bulk-preview")

    async def _preview(self, text: str, mode: PasswordMode) -> None:
        store = self.usher.store
        if store is None:
            return
        parsed = await asyncio.to_thread(parse_bulk_lines, text, mode, org=self.usher.settings.org)
        self._parsed = parsed
        result = await check_existing(store, parsed)
        self._pending = False
        self._show_preview(result)

    def _database_changed(self, *_: object) -> None:
        """Accounts created elsewhere (signups, another admin) become "already exists"."""
        if self._parsed is not None and not self.importing and not self._pending:
            self.run_worker(self._recheck(self._parsed), exclusive=True, group="bulk-preview")

    async def _recheck(self, parsed: ParsedLines) -> None:
        store = self.usher.store
        if store is None:
            return
        self._show_preview(await check_existing(store, parsed))

    def _show_preview(self, result: ParsedLines) -> None:
        self.preview = result
        exists = sum(1 for line in result.lines if line.has("exists"))
        invalid = result.problem_count - exists
        if result.total == 0:
            summary = "Preview: type or paste lines above."
        else:
            parts = [f"Preview: {result.ready_count:,} ready"]
            if exists:
                parts.append(f"{exists:,} already exist")
            parts.append(f"{invalid:,} problem{'s' if invalid != 1 else ''}")
            summary = " · ".join(parts)
            if result.header_line is not None:
                summary += f"  (header on line {result.header_line})"
        rows = list(result.lines) if self._all_rows else result.problems
        shown = self.query_one("#preview", BulkLinesTable).show(rows)
        if shown < len(rows):
            summary += f" — table shows the first {shown:,}"
        if result.problems and not self._all_rows:
            summary += " — ctrl+n next problem"
        self.query_one("#summary", Static).update(summary)
        self._by_line = {line.line: line for line in rows[:shown]}
        table = self.query_one("#preview", BulkLinesTable)
        self._show_detail(table.row_line(table.cursor_row))
        self._refresh_add_button()

    @on(DataTable.RowHighlighted, "#preview")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        self._show_detail(int(key) if key is not None else None)

    def _show_detail(self, number: int | None) -> None:
        """The highlighted row's whole reason (the table's last column is cut at 80 columns)."""
        line = self._by_line.get(number) if number is not None else None
        text = f"Line {line.line}: {line.error or 'ready'}" if line is not None else ""
        self.query_one("#detail", Static).update(Text(text, no_wrap=True, overflow="ellipsis"))

    def _refresh_add_button(self) -> None:
        button = self.query_one("#add", Button)
        ready = self.preview.ready_count if self.preview is not None else 0
        button.label = f"Add {ready:,} user{'s' if ready != 1 else ''}" if ready else "Add users"
        shared_bad = self.mode == "same" and bool(self._shared_verdict()[0])
        button.disabled = self.importing or ready == 0 or shared_bad

    # ---------------------------------------------------------------- keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_import":
            return self.importing
        if action in ("add_users", "open_file", "toggle_rows"):
            return not self.importing
        return True

    def action_toggle_rows(self) -> None:
        self._all_rows = not self._all_rows
        if self._parsed is not None and self.preview is not None:
            self._show_preview(self.preview)
        self.notify("Showing every parsed row." if self._all_rows else "Showing problem rows.")

    def action_next_problem(self) -> None:
        if self.preview is None or not self.preview.problems:
            self.notify("No problems in the preview.")
            return
        area = self.lines_area
        current = area.cursor_location[0] + 1
        problems = [line.line for line in self.preview.problems]
        target = next((n for n in problems if n > current), problems[0])
        self._go_to_line(target)

    def _go_to_line(self, line: int) -> None:
        area = self.lines_area
        area.move_cursor((line - 1, 0), center=True)
        area.focus()
        table = self.query_one("#preview", BulkLinesTable)
        row = table.row_of_line(line)
        if row is not None:
            table.move_cursor(row=row)

    @on(DataTable.RowSelected, "#preview")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is not None:
            self._go_to_line(int(key))

    def action_open_file(self) -> None:
        self.app.push_screen(
            PathDialog(
                "Open a .csv file",
                "Its lines replace the text (UTF-8; a header row with first / last / email / "
                "password columns is honoured).",
                str(Path.cwd()) + "/",
                purpose="open",
                action="Open",
            ),
            callback=self._load_file,
        )

    async def _load_file(self, path: str | None) -> None:
        if path is None:
            return
        try:
            text = await asyncio.to_thread(read_lines_file, path)
        except (OSError, ValueError) as error:
            reason = error.strerror if isinstance(error, OSError) else str(error)
            self.notify(f"Cannot open {path}: {reason}", severity="error", timeout=8)
            return
        self.lines_area.load_text(text)
        self.lines_area.focus()
        self.notify(f"Loaded {path}.")

    def action_export_problems(self) -> None:
        if self.preview is None or not self.preview.problems:
            self.notify("There are no problem lines to export.")
            return
        self.app.push_screen(
            PathDialog(
                "Export the problem lines",
                "A CSV of every line with a problem and why (passwords masked).",
                str(export_folder() / "usher-bulk-problems.csv"),
                purpose="create",
                action="Export",
            ),
            callback=self._export,
        )

    async def _export(self, path: str | None) -> None:
        if path is None or self.preview is None:
            return
        try:
            count = await asyncio.to_thread(write_problem_report, path, self.preview.problems)
        except (ExportError, OSError) as error:
            self.notify(f"Not exported: {error}", severity="error", timeout=8)
            return
        self.notify(f"Exported {count:,} problem lines to {path}.")

    # ---------------------------------------------------------------- adding

    @on(Button.Pressed, "#add")
    async def action_add_users(self) -> None:
        if self.importing or self.usher.store is None:
            return
        if self._pending or self.preview is None or self.preview.mode != self.mode:
            self._debounce.cancel()
            await self._preview(self.lines_area.text, self.mode)
        parsed = self.preview
        if parsed is None or parsed.ready_count == 0:
            self.notify("Nothing to add: every line has a problem.", severity="warning")
            return
        options = self.options()
        if options.passwords == "same":
            problem = await asyncio.to_thread(
                shared_password_problem, options.shared_password, org=self._org
            )
            if problem:
                self.notify(f"The password for all: {problem}", severity="error")
                self.query_one("#shared", Input).focus()
                return
        ready, skipped = parsed.ready_count, parsed.problem_count
        notes = [
            f"{ready:,} account{'s' if ready != 1 else ''} will be created; {skipped:,} "
            f"line{'s have' if skipped != 1 else ' has'} problems and will be skipped.",
            f"Level {options.level} · passwords: {dict(MODES)[options.passwords].lower()}"
            + (" · must change at first sign-in" if options.must_change else ""),
        ]
        if options.language:
            notes.append(f"Their emails and pages are in {language_words(options.language)}.")
        if options.notify:
            where = "" if self.usher.settings.smtp_configured else " (kept in the Outbox: no SMTP)"
            notes.append(f"Each gets an email with a set-password link{where}.")
        else:
            notes.append("No one is emailed.")
        self.app.push_screen(
            AskDialog(
                f"Add {ready:,} user{'s' * (ready != 1)}"
                + (f" as admin{'s' * (ready != 1)}" if options.level == "admin" else "")
                + "?",
                "\n".join(notes),
                f"Create {ready:,} account{'s' * (ready != 1)}",
            ),
            callback=lambda go: self._confirmed(bool(go), parsed, options),
        )

    def _confirmed(self, go: bool, parsed: ParsedLines, options: BulkOptions) -> None:
        if go:
            self.run_worker(self._import(parsed, options), group="bulk-import")

    def _set_importing(self, importing: bool) -> None:
        self.importing = importing
        self._cancel = False
        self.lines_area.read_only = importing
        for selector in ("#level", "#mode", "#shared", "#notify", "#language"):
            self.query_one(selector).disabled = importing
        if not importing:
            self._sync_mode()
        else:
            self.query_one("#must-change").disabled = True
        self.query_one("#progress").set_class(importing, "shown")
        self._refresh_add_button()
        self.refresh_bindings()

    def _on_progress(self, progress: Progress) -> None:
        self._phase = progress.phase
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=max(progress.total, 1), progress=progress.done)
        self.query_one("#progress-text", Static).update(progress_text(progress))

    async def _import(self, parsed: ParsedLines, options: BulkOptions) -> None:
        store = self.usher.store
        if store is None:
            return
        self._set_importing(True)
        self._on_progress(Progress("hashing", 0, parsed.ready_count, 0.0))
        try:
            result = await create_batch(
                store,
                parsed,
                options,
                actor=console_actor(),
                on_progress=self._on_progress,
                cancelled=lambda: self._cancel,
            )
        except BulkCancelled:
            self.notify("Cancelled: nothing was written.", severity="warning")
            self.query_one("#progress-text", Static).update("Cancelled: nothing was written.")
            return
        except (BulkError, DatabaseError, sqlite3.Error) as error:
            self.notify(f"Nothing was created: {error}", severity="error", timeout=10)
            self.query_one("#progress-text", Static).update("Nothing was created.")
            return
        finally:
            self._set_importing(False)
        # The one-time passwords live only in the result dialog: shown once, then gone.
        self.last_result = msgspec.structs.replace(result, credentials=())
        self.query_one("#progress-text", Static).update(result.summary)
        self._schedule_preview(delay=0.0)
        self.app.push_screen(BulkResultDialog(result, smtp=self.usher.settings.smtp_configured))

    def action_cancel_import(self) -> None:
        if not self.importing:
            return
        if self._phase != "hashing":
            self.notify("Too late to cancel: the accounts are being written.", severity="warning")
            return
        self._cancel = True
        self.query_one("#progress-text", Static).update("Cancelling… (nothing is written)")
