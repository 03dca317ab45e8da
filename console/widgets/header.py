"""The two header lines on every screen: where you can go (with live badges), and the state of
the server, database and mail."""

from __future__ import annotations

import sys

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from store.database.dialect import database_label
from store.domain.records import Counts

from ..context import console_of
from ..server_state import ServerState


def badge_counts(counts: Counts | None) -> dict[str, tuple[int, str]]:
    """Mode name → (count, style) for the badges shown next to screen names."""
    if counts is None:
        return {}
    return {
        "approvals": (counts.pending, "bold yellow"),
        "outbox": (counts.mail_failed, "bold red"),
    }


def wrap_entries(entries: list[Text], width: int, gap: str = "  ") -> Text:
    """Join `entries` with `gap`, breaking lines only between entries, so a screen's key and
    name ("F6 Add user") are never split across lines."""
    text = Text(no_wrap=True, overflow="ellipsis")
    used = 0
    for entry in entries:
        if used and used + len(gap) + entry.cell_len > width:
            text.append("\n")
            used = 0
        elif used:
            text.append(gap)
            used += len(gap)
        text.append_text(entry)
        used += entry.cell_len
    return text


SHORT = {
    "approvals": "Appr",
    "invitations": "Sent",
    "add_user": "Add",
    "outbox": "Mail",
}
"""Shorter names, tried when the full list does not fit one line; narrower still, only the
current screen is named and the others show their key and badge (F1 help and the command
palette name them all)."""


class UsherHeader(Vertical):
    DEFAULT_CSS = """
    UsherHeader { height: auto; background: $panel; padding: 0 1; }
    UsherHeader #nav { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    UsherHeader #status-line { height: 1; }
    UsherHeader #status { width: 1fr; height: 1; }
    UsherHeader #meta { width: auto; height: 1; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="nav")
        with Horizontal(id="status-line"):
            yield Static(id="status")
            yield Static(id="meta")

    def on_mount(self) -> None:
        app = self.app
        self.watch(app, "counts", self._refresh_nav, init=False)
        self.watch(app, "server_state", self._refresh_status, init=False)
        self.watch(app, "database_reachable", self._refresh_status, init=False)
        self.watch(app, "current_mode", self._refresh_nav, init=False)
        self._refresh_nav()
        self._refresh_status()

    def on_resize(self) -> None:
        self._refresh_nav()

    def _refresh_nav(self, *_: object) -> None:
        app = console_of(self.app)
        badges = badge_counts(app.counts)
        start = Text("Usher", style="bold")
        if app.settings.org != "Usher":
            start.append(" · ")
            start.append(app.settings.org, style="bold")
        width = self.size.width or self.app.size.width - 2  # the content width (padding: 0 1)
        text = Text()
        for names, gap in (("full", "  "), ("full", " "), ("short", " "), ("current", " ")):
            entries = [start]
            for destination in app.destinations:
                current = destination.mode == app.current_mode
                entry = Text(destination.key.upper(), style="bold reverse" if current else "dim")
                label = destination.label
                if not current and names != "full":
                    label = SHORT.get(destination.mode, label) if names == "short" else ""
                if label:
                    entry.append(" ")
                    entry.append(label, style="bold" if current else "")
                count, style = badges.get(destination.mode, (0, ""))
                if count:
                    entry.append(f" {count}", style=style)
                entries.append(entry)
            text = wrap_entries(entries, width, gap)
            if "\n" not in text.plain:
                break
        else:  # the organisation's name gives way (cut with …), then the line is cut
            rest = wrap_entries(entries[1:], sys.maxsize, " ")
            room = max(width - rest.cell_len - 1, 5)
            if start.cell_len > room:
                start.truncate(room - 1)
                start.append("…")
            text = wrap_entries([start, *entries[1:]], sys.maxsize, " ")
        self.query_one("#nav", Static).update(text)

    def _refresh_status(self, *_: object) -> None:
        app = console_of(self.app)
        state: ServerState = app.server_state
        dot_style = {
            "up": "bold green",
            "starting": "yellow",
            "elsewhere": "green",
        }.get(state.state, "bold red")
        text = Text(no_wrap=True, overflow="ellipsis")
        if app.database_reachable:
            text.append("● ", style=dot_style)
            text.append(state.label)
        else:
            text.append("● ", style="bold red")
            text.append("database unreachable")
        self.query_one("#status", Static).update(text)
        mail = "mail: smtp" if app.settings.smtp_configured else "mail: kept"
        where = database_label(app.settings.db)
        meta = Text(f" {where} · {mail}", no_wrap=True, overflow="ellipsis")
        self.query_one("#meta", Static).update(meta)
