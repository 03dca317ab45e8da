"""Invite (F4): paste a list of addresses, see at once who will be invited and what is wrong
with the rest, choose a level and an optional message, and send.

The paste is parsed in a thread worker, a moment after the typing stops, then checked against
the database; only the counts and the problem rows are shown (a big paste never becomes 10,000
table rows). Sending asks once, with the count, and writes everything in one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Input,
    Label,
    RadioSet,
    Static,
    TextArea,
)

from store.accounts.audit import console_actor
from store.domain.clock import ago, lifetime_words, now
from store.onboarding.email_lists import ParsedList, lines_to_fix, parse_email_list
from store.onboarding.invitations import (
    INVITATION_VALID,
    MAX_MESSAGE,
    InvitationError,
    InvitePreview,
    preview_invitations,
    send_invitations,
)

from ..debounce import Debounce
from ..dialogs.ask import AskDialog, ask_now
from ..widgets.language_select import LanguageSelect, language_words
from ..widgets.levels import level_choices
from ..widgets.text_boxes import PasteBox, SafeInput
from ..widgets.toggles import Tick, start_at_chosen
from .base import UsherScreen

DEBOUNCE_SECONDS = 0.3
MAX_PROBLEM_ROWS = 300
"""Problem rows shown at most (a DataTable's first render of thousands of rows takes seconds)."""

_MARKS = {
    "invalid": ("✗", "bold red"),
    "duplicate": ("≡", "yellow"),
    "existing": ("●", "cyan"),
    "pending": ("○", "magenta"),
}


class ProblemRow:
    """One row of the problem table, keyed so a new preview changes only what changed."""

    __slots__ = ("kind", "line", "text", "why")

    def __init__(self, kind: str, line: int, text: str, why: str) -> None:
        self.kind = kind
        self.line = line
        self.text = text
        self.why = why

    @property
    def key(self) -> str:
        return f"{self.kind}\x00{self.line}\x00{self.text}\x00{self.why}"

    def cells(self) -> tuple[Text, int, Text, Text]:
        mark, style = _MARKS[self.kind]
        return (Text(mark, style=style), self.line, Text(self.text), Text(self.why, style="dim"))


def problem_rows(preview: InvitePreview, reinvite: bool, moment: datetime) -> list[ProblemRow]:
    """Everything that will not simply be invited, in line order."""
    rows = [ProblemRow(p.kind, p.line, p.text, p.reason) for p in preview.parsed.problems]
    rows += [
        ProblemRow("existing", e.line, e.address, "already has an account")
        for e in preview.existing
    ]
    action = "will re-invite" if reinvite else "skipped"
    rows += [
        ProblemRow(
            "pending",
            p.entry.line,
            p.entry.address,
            f"invited {ago(p.sent_at, moment)} — {action}",
        )
        for p in preview.pending
    ]
    rows.sort(key=lambda row: row.line)
    return rows


def summary_text(preview: InvitePreview | None, reinvite: bool) -> Text:
    text = Text(no_wrap=False)
    if (
        preview is None
        or not preview.parsed.lines
        or not (preview.parsed.entries or preview.parsed.problems)
    ):
        text.append("Nothing pasted yet.", style="dim")
        return text
    count = preview.invited_count(reinvite)
    text.append(f"Will invite {count:,}", style="bold green" if count else "bold")
    parsed = preview.parsed
    parts = [
        ("invalid", len(parsed.invalid), "not an address"),
        ("duplicate", len(parsed.duplicates), "duplicate"),
        (
            "existing",
            len(preview.existing),
            "has an account" if len(preview.existing) == 1 else "have an account",
        ),
        ("pending", len(preview.pending), "pending" + (" (re-invite)" if reinvite else " (skip)")),
    ]
    for kind, number, label in parts:
        if number:
            mark, style = _MARKS[kind]
            text.append("\n")
            text.append(f"{mark} {number:,} ", style=style)
            text.append(label)
    if parsed.header_line is not None:
        text.append(f"\nheader on line {parsed.header_line} skipped", style="dim")
    return text


class InviteScreen(UsherScreen):
    TITLE = "Invite"
    HELP: ClassVar[str] = (
        "Paste addresses in the box: any mix of commas, semicolons, tabs, spaces and new lines, "
        '"Name <addr>" and "Last, First" <addr> forms, or a spreadsheet column or CSV with a '
        "header. The preview on the right counts who will be invited and lists every line that "
        "will not be: ✗ not an address, ≡ already in the list, ● already has an account, "
        "○ has a pending invitation (tick Re-invite to send them a new link, else they are "
        "skipped). Choose the level, add a message if you like, then ctrl+s (or the Send "
        "button) sends: it asks once, then every invitation and its email are written "
        f"together. Each link works once, for {lifetime_words(INVITATION_VALID)}."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", priority=True, key_display="^s"),
        Binding("ctrl+l", "clear", "Clear", key_display="^l"),
    ]
    CSS_PATH = "invite.tcss"

    class Parsed(Message):
        """A thread worker finished parsing; `generation` says which edit it belongs to."""

        def __init__(self, parsed: ParsedList, generation: int) -> None:
            super().__init__()
            self.parsed = parsed
            self.generation = generation

    def __init__(self) -> None:
        super().__init__()
        self._generation = 0
        self._debounce = Debounce(self, DEBOUNCE_SECONDS, self._start_parse)
        self._preview: InvitePreview | None = None
        self._rows: dict[str, ProblemRow] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(
            'Paste addresses — commas, semicolons, new lines, "Name <addr>", spreadsheet columns',
            id="hint",
            markup=False,
        )
        with Horizontal(id="main"):
            yield PasteBox(
                id="paste",
                soft_wrap=False,
                show_line_numbers=True,
                tab_behavior="focus",
                placeholder="ann@example.org, Bob Stone <bob@example.org>; …",
            )
            with Vertical(id="preview"):
                yield Static(summary_text(None, False), id="summary")
                yield DataTable(id="problems", cursor_type="row", show_header=True)
                yield Static("", id="detail")
        with Horizontal(classes="row"):
            yield Label("Level")
            with RadioSet(id="level", compact=True):
                yield from level_choices(id_prefix="level-")
        with Horizontal(classes="row"):
            yield Label("Message")
            yield SafeInput(
                placeholder="Personal message for the email (optional)",
                id="message",
                max_length=MAX_MESSAGE,
                compact=True,
            )
            yield LanguageSelect(configured=self.usher.settings.language, id="language")
        with Horizontal(classes="row"):
            yield Tick(
                "Re-invite people with a pending invitation (new link)",
                id="reinvite",
                compact=True,
            )
            yield Button("Send", id="send", variant="primary", compact=True, disabled=True)

    def on_mount(self) -> None:
        table = self.query_one("#problems", DataTable)
        table.add_column("", key="mark", width=1)
        table.add_column("Line", key="line")
        table.add_column("Entry", key="entry")
        table.add_column("Why", key="why")
        start_at_chosen(self.query(RadioSet))
        self.query_one("#paste", TextArea).focus()

    # ------------------------------------------------------------------ preview

    @property
    def level(self) -> str:
        pressed = self.query_one("#level", RadioSet).pressed_button
        return (pressed.id or "level-member").removeprefix("level-") if pressed else "member"

    @property
    def language(self) -> str | None:
        """The language chosen for this batch (None: the default)."""
        return self.query_one("#language", LanguageSelect).language

    @property
    def reinvite(self) -> bool:
        return self.query_one("#reinvite", Checkbox).value

    @on(TextArea.Changed, "#paste")
    def _text_changed(self) -> None:
        self._generation += 1
        self._debounce.poke()

    def _start_parse(self) -> None:
        self._parse(self.query_one("#paste", TextArea).text, self._generation)

    @work(thread=True, exclusive=True, group="parse", exit_on_error=False)
    def _parse(self, text: str, generation: int) -> None:
        """CPU work off the event loop; the result goes back as a message (thread-safe)."""
        self.post_message(self.Parsed(parse_email_list(text), generation))

    @on(Parsed)
    def _parsed(self, message: Parsed) -> None:
        if message.generation == self._generation:
            self._check(message.parsed, message.generation)

    @work(exclusive=True, group="check", exit_on_error=False)
    async def _check(self, parsed: ParsedList, generation: int) -> None:
        store = self.usher.store
        if store is None:
            return
        preview = await preview_invitations(store, parsed)
        if generation == self._generation:
            self._preview = preview
            self._show()

    @on(Checkbox.Changed, "#reinvite")
    def _reinvite_changed(self) -> None:
        self._show()

    def _show(self) -> None:
        preview = self._preview
        reinvite = self.reinvite
        count = preview.invited_count(reinvite) if preview else 0
        button = self.query_one("#send", Button)
        button.label = f"Send {count:,}" if count else "Send"
        button.disabled = count == 0
        rows = problem_rows(preview, reinvite, now()) if preview else []
        shown = rows[:MAX_PROBLEM_ROWS]
        summary = summary_text(preview, reinvite)
        if len(rows) > len(shown):
            summary.append(
                f"\nshowing the first {len(shown):,} of {len(rows):,} rows "
                "(usher invite --json lists all)",
                style="dim",
            )
        self.query_one("#summary", Static).update(summary)
        self._update_rows(shown)

    def _update_rows(self, rows: list[ProblemRow]) -> None:
        """Change only what changed: the cursor and scroll stay where the admin left them."""
        table = self.query_one("#problems", DataTable)
        wanted = {row.key: row for row in rows}
        for key in [k for k in self._rows if k not in wanted]:
            table.remove_row(key)
            del self._rows[key]
        added = False
        for key, row in wanted.items():
            if key not in self._rows:
                table.add_row(*row.cells(), key=key)
                self._rows[key] = row
                added = True
        if added:
            table.sort("line")
        if not table.row_count:  # no row is highlighted any more: nothing to detail
            self.query_one("#detail", Static).update("")

    @on(DataTable.RowHighlighted, "#problems")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted problem in full (the table's columns cut long reasons)."""
        row = self._rows.get(str(event.row_key.value))
        detail = Text()
        if row is not None:
            mark, style = _MARKS[row.kind]
            detail.append(f"{mark} line {row.line}: ", style=style)
            detail.append(row.text)
            detail.append(f" — {row.why}")
        self.query_one("#detail", Static).update(detail)

    # ------------------------------------------------------------------ send

    def action_send(self) -> None:
        """Read the box and the message now, as the key is handled; keys typed meanwhile wait
        until the question is on screen (they answer it) — never land in what is being sent."""
        text = self.query_one("#paste", TextArea).text
        message = self.query_one("#message", Input).value
        self.usher.writes.track(self._send(text, message, self.usher.keys.hold()))

    @on(Button.Pressed, "#send")
    def _send_pressed(self) -> None:
        self.action_send()

    @work(exclusive=True, group="send", exit_on_error=False)
    async def _send(self, text: str, message: str, release: Callable[[], None]) -> None:
        releases = [release]
        try:
            await self._send_now(text, message, releases)
        finally:
            for each in releases:
                each()

    async def _send_now(self, text: str, message: str, releases: list[Callable[[], None]]) -> None:
        store = self.usher.store
        if store is None:
            return
        parsed = await asyncio.to_thread(parse_email_list, text)
        preview = await preview_invitations(store, parsed)
        reinvite = self.reinvite
        level = self.level
        language = self.language
        count = preview.invited_count(reinvite)
        if count == 0:
            reason = (
                "nothing is pasted"
                if not (parsed.entries or parsed.problems)
                else "no new valid address in the list"
            )
            self.notify(f"Nothing to send: {reason}.", severity="warning")
            return
        people = "invitation" if count == 1 else "invitations"
        body = [
            f"Each person gets an email with a link to create their account as {level}, "
            f"valid for {INVITATION_VALID.days} days."
        ]
        if language:
            body.append(f"Their email and pages are in {language_words(language)}.")
        if preview.pending and reinvite:
            body.append(f"{len(preview.pending):,} with a pending invitation get a new link.")
        skipped = preview.skipped_count(reinvite) + len(parsed.invalid)
        if skipped:
            body.append(f"{skipped:,} lines or addresses are skipped (see the preview).")
        if not store.settings.smtp_configured:
            body.append("No SMTP server is set: the emails are kept in the outbox.")
        question = AskDialog(
            f"Send {count:,} {people} as {level}?", "\n".join(body), f"Send {count:,}"
        )
        confirmed, answered = await ask_now(self.app, self.usher.keys, question, releases[0])
        releases.append(answered)
        if not confirmed:
            return
        try:
            result = await send_invitations(
                store,
                preview.entries_to_send(),
                level=level,
                actor=console_actor(),
                message=message,
                reinvite=reinvite,
                language=language,
            )
        except InvitationError as error:
            self.notify(f"Nothing was sent: {error}", severity="error", markup=False)
            return
        note = f"Sent {result.sent:,} invitation{'s' if result.sent != 1 else ''} as {level}"
        if result.skipped:
            note += f"; skipped {result.skipped:,} (account or pending invitation)"
        to_fix = lines_to_fix(text, parsed)
        if to_fix:
            count = len(parsed.invalid)
            note += (
                f". {count:,} {'entry is' if count == 1 else 'entries are'} not an address: "
                "left in the box to correct and send"
            )
        self.notify(note + ".", title="Invitations sent", markup=False)
        box, typed = self.query_one("#message", Input), self.query_one("#message", Input).value
        if typed == message:
            box.value = ""
        paste = self.query_one("#paste", TextArea)
        paste.load_text(left_in_box(text, paste.text, to_fix))
        paste.move_cursor(paste.document.end)

    def action_clear(self) -> None:
        """Empty the paste box (ctrl+z brings the text back)."""
        paste = self.query_one("#paste", TextArea)
        paste.clear()
        paste.focus()


def left_in_box(sent: str, now: str, to_fix: str) -> str:
    """The box after a send: the lines to correct, then whatever was typed after the text
    that was sent (typed ahead while it was sent)."""
    after = now[len(sent) :].lstrip("\n") if now.startswith(sent) else ""
    return "\n".join(part for part in (to_fix.rstrip("\n"), after) if part)
