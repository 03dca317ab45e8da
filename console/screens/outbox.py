"""Outbox: every email (and webhook delivery) Usher has written, live. View one, retry failed
ones, send kept ones."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import DataTable, Input, Static

from store.accounts.audit import console_actor
from store.domain.clock import ago
from store.domain.records import Counts
from store.domain.refusal import Refused
from store.domain.text import clean_line
from store.domain.vocabulary import OUTBOX_STATUSES
from store.messaging.outbox import (
    OutboxMessage,
    get_message,
    list_messages,
    retry,
    retry_all_failed,
    send_kept,
    send_test,
)
from store.messaging.smtp_url import SmtpUrlError, parse_smtp_url

from ..dialogs.ask_address import AskAddressDialog
from ..dialogs.outbox_message import OutboxMessageDialog
from ..widgets.filter_box import FilterBox
from ..widgets.live_table import OpenTable, clip, room
from .base import UsherScreen

PAGE = 500
COLUMNS = (
    ("#", "id"),
    ("Status", "status"),
    ("Recipient", "recipient"),
    ("Kind", "kind"),
    ("Tries", "attempts"),
    ("Last error", "error"),
    ("Created", "created"),
)
STATUS_STYLE = {
    "queued": "yellow",
    "sending": "cyan",
    "sent": "green",
    "failed": "bold red",
    "kept": "magenta",
}


def smtp_line(smtp_url: str) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("SMTP ", style="bold")
    if not smtp_url:
        text.append("none: new messages are kept here; open one (enter) to pass it on")
        return text
    try:
        text.append(parse_smtp_url(smtp_url).describe())
    except SmtpUrlError as error:
        text.append(str(error), style="bold red")
    return text


def counts_line(counts: Counts | None) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    by_status = counts.outbox_by_status if counts else {}
    for index, status in enumerate(OUTBOX_STATUSES):
        if index:
            text.append(" · ", style="dim")
        value = by_status.get(status, 0)
        text.append(f"{value} ", style=STATUS_STYLE[status] if value else "dim")
        text.append(status, style="" if value else "dim")
    return text


class OutboxScreen(UsherScreen):
    ROW_DETAIL = True
    TITLE = "Outbox"
    AUTO_FOCUS = "#outbox"
    HELP: ClassVar[str] = (
        "Every email Usher writes goes through this outbox, newest first, updated live; so do "
        "webhook deliveries (USHER_WEBHOOK_URL), shown as `webhook <host>` with the event as "
        "their kind.\n\n"
        "Statuses: queued (waiting for its next try), sending, sent (the server accepted it), "
        "failed (the server refused it, or every try failed; the reply is in Last error), "
        "kept (no SMTP server was configured: nothing was sent).\n\n"
        "enter  view a message (links with tokens are hidden unless it is kept)\n"
        "t      retry the selected failed (or waiting) message now\n"
        "T      retry every failed message\n"
        "k      send every kept message (needs USHER_SMTP_URL)\n"
        "n      queue a test message to an address\n"
        "/      filter: a status (queued, sending, sent, failed, kept) or part of an address; "
        "escape clears\n\n"
        "Command line: usher outbox list [--status S] [--json]."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "view", "View"),
        Binding("t", "retry", "Retry"),
        Binding("T", "retry_all", "Retry failed", key_display="T"),
        Binding("k", "send_kept", "Send kept"),
        Binding("n", "test_message", "Test"),
        Binding("slash", "filter", "Filter", key_display="/", priority=True),
        Binding("escape", "clear_filter", "Clear", show=False),
    ]
    CSS_PATH = "outbox.tcss"

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, OutboxMessage] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(id="summary")
        yield FilterBox("Filter: queued, sending, sent, failed, kept — or part of an address")
        yield OpenTable(id="outbox", cursor_type="row", zebra_stripes=True)
        yield Static("No messages here.", id="empty", markup=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key in COLUMNS:
            table.add_column(label, key=key)
        self.watch(self.app, "counts", self._counts_changed)

    # ------------------------------------------------------------ live rows

    def _counts_changed(self, counts: Counts | None) -> None:
        summary = Text()
        summary.append_text(counts_line(counts))
        summary.append("\n")
        summary.append_text(smtp_line(self.usher.settings.smtp_url))
        try:
            self.query_one("#summary", Static).update(summary)
        except NoMatches:  # the screen is closing
            return
        self._reload()

    def _reload(self) -> None:
        self.run_latest(self._load, "outbox-load")

    def _filter(self) -> tuple[str | None, str]:
        value = clean_line(self.query_one("#filter", Input).value).strip()
        if value.lower() in OUTBOX_STATUSES:
            return value.lower(), ""
        return None, value

    async def _load(self) -> None:
        store = self.usher.store
        if store is None:
            return
        status, term = self._filter()
        messages = await list_messages(store, status=status, term=term, limit=PAGE)
        self._apply(messages)

    def _apply(self, messages: list[OutboxMessage]) -> None:
        """Change the table in place: update changed rows, drop gone ones, add new ones."""
        try:
            table = self.query_one(DataTable)
        except NoMatches:  # the screen is closing: nothing to show any more
            return
        wanted = {str(message.id): message for message in messages}
        for key in list(self._shown):
            if key not in wanted:
                table.remove_row(key)
                del self._shown[key]
        added = False
        for key, message in wanted.items():
            old = self._shown.get(key)
            if old is None:
                table.add_row(*self._cells(message), key=key)
                added = True
            elif old != message:
                for (_, column), cell in zip(COLUMNS, self._cells(message), strict=True):
                    table.update_cell(key, column, cell, update_width=True)
            self._shown[key] = message
        if added:
            current = self.selected_key()
            table.sort("id", key=lambda cell: int(cell.plain), reverse=True)
            if current is not None:
                table.move_cursor(row=table.get_row_index(current), animate=False)
        self.query_one("#empty").set_class(not wanted, "shown")

    def _cells(self, message: OutboxMessage) -> tuple[Text, ...]:
        spare = self.app.size.width - 80
        error = clean_line(message.last_error)
        return (
            Text(str(message.id), justify="right"),
            Text(message.status, style=STATUS_STYLE.get(message.status, "")),
            clip(
                Text(clean_line(message.destination), style="cyan" if message.is_webhook else ""),
                room(28, spare, 0.3),
            ),
            Text(clean_line(message.kind)),
            Text(str(message.attempts), justify="right"),
            clip(Text(error, style="red" if error else ""), room(20, spare, 0.5)),
            Text(ago(message.created_at)),
        )

    def selected_key(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(row_key.value) if row_key.value is not None else None

    # ------------------------------------------------------------ actions

    @on(DataTable.RowSelected, "#outbox")
    async def _row_selected(self) -> None:
        await self.action_view()

    async def action_view(self) -> None:
        key = self.selected_key()
        store = self.usher.store
        if key is None or store is None:
            self.notify("No message selected.", severity="warning")
            return
        message = await get_message(store, int(key))
        if message is None:
            self.notify(f"Message #{key} is gone.", severity="warning")
            return
        self.app.push_screen(OutboxMessageDialog(message, self.usher.settings))

    async def action_retry(self) -> None:
        key = self.selected_key()
        store = self.usher.store
        if key is None or store is None:
            self.notify("No message selected.", severity="warning")
            return
        try:
            message = await retry(store, int(key), console_actor())
        except Refused as error:
            self.show_refusal(error, timeout=8)
            return
        self.notify(f"Message #{message.id} to {clean_line(message.destination)} queued again.")

    async def action_retry_all(self) -> None:
        store = self.usher.store
        if store is None:
            return
        try:
            count = await retry_all_failed(store, console_actor())
        except Refused as error:
            self.show_refusal(error, timeout=8)
            return
        if count:
            self.notify(f"{count} failed message{'s' if count != 1 else ''} queued again.")
        else:
            self.notify("No failed messages.")

    async def action_send_kept(self) -> None:
        store = self.usher.store
        if store is None:
            return
        try:
            count = await send_kept(store, console_actor())
        except Refused as error:
            self.show_refusal(error, timeout=10)
            return
        if count:
            self.notify(f"{count} kept message{'s' if count != 1 else ''} queued for sending.")
        else:
            self.notify("No kept messages.")

    def action_test_message(self) -> None:
        hint = "enter queues it · escape cancels"
        if not self.usher.settings.smtp_configured:
            hint = "No SMTP server: the message will be kept here. " + hint
        self.app.push_screen(AskAddressDialog("Send a test message to", hint), self._send_test)

    async def _send_test(self, address: str | None) -> None:
        store = self.usher.store
        if not address or store is None:
            return
        try:
            outbox_id = await send_test(store, address, console_actor())
        except Refused as error:
            self.show_refusal(error, timeout=8)
            return
        self.notify(f"Test message #{outbox_id} to {address} queued.")

    def action_filter(self) -> None:
        self.open_filter(self.query_one(FilterBox))

    def action_clear_filter(self) -> None:
        self.query_one(FilterBox).close()
        self.query_one(DataTable).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._reload()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.query_one(DataTable).focus()
