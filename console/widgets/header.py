"""The two header lines on every screen: where you can go (with live badges), and the state of
the server, database and mail."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from store.records import Counts

from ..server_state import ServerState


def badge_counts(counts: Counts | None) -> dict[str, tuple[int, str]]:
    """Mode name → (count, style) for the badges shown next to screen names."""
    if counts is None:
        return {}
    return {
        "approvals": (counts.pending, "bold yellow"),
        "outbox": (counts.mail_failed, "bold red"),
    }


class UsherHeader(Vertical):
    DEFAULT_CSS = """
    UsherHeader { height: auto; background: $panel; padding: 0 1; }
    UsherHeader #nav { height: auto; }
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
        self.watch(app, "current_mode", self._refresh_nav, init=False)
        self._refresh_nav()
        self._refresh_status()

    def _refresh_nav(self, *_: object) -> None:
        from ..app import UsherApp

        app = self.app
        assert isinstance(app, UsherApp)
        badges = badge_counts(app.counts)
        text = Text(no_wrap=False, overflow="fold")
        text.append("Usher", style="bold")
        if app.settings.org != "Usher":
            text.append(" · ")
            text.append(app.settings.org, style="bold")
        text.append("  ")
        for destination in app.destinations:
            current = destination.mode == app.current_mode
            text.append(destination.key.upper(), style="bold reverse" if current else "dim")
            text.append(" ")
            text.append(destination.label, style="bold" if current else "")
            count, style = badges.get(destination.mode, (0, ""))
            if count:
                text.append(f" {count}", style=style)
            text.append("  ")
        self.query_one("#nav", Static).update(text)

    def _refresh_status(self, *_: object) -> None:
        from ..app import UsherApp

        app = self.app
        assert isinstance(app, UsherApp)
        state: ServerState = app.server_state
        dot_style = {"up": "bold green", "starting": "yellow", "external": "cyan"}.get(
            state.state, "bold red"
        )
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("● ", style=dot_style)
        text.append(state.label)
        self.query_one("#status", Static).update(text)
        mail = "mail: smtp" if app.settings.smtp_configured else "mail: kept"
        meta = Text(f" {Path(app.settings.db).name} · {mail}", no_wrap=True, overflow="ellipsis")
        self.query_one("#meta", Static).update(meta)
