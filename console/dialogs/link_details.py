"""One link up close: its URL, what it allows, and who joined through it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from store.domain.clock import ago
from store.domain.records import User
from store.domain.text import clean_line
from store.onboarding.links import Link, format_domains

from ..context import Console
from ..widgets.language_select import language_words
from .copied import copy_and_tell
from .qr import QrScreen

STATUS_STYLE = {
    "active": "green",
    "pending": "yellow",
    "unconfirmed": "cyan",
    "rejected": "red",
    "disabled": "red",
}


NAME_WIDTH = 16
EMAIL_WIDTH = 25
"""Name and email cells are cut to these at 80 columns (the dialog's narrowest), so "Joined" and
"State" stay on screen; a wider terminal gives them the spare columns, up to the dialog's 100."""


def clip(text: str, width: int) -> Text:
    """`text` cut to `width` cells with an ellipsis (one long name cannot push columns off)."""
    out = Text(text)
    if out.cell_len > width:
        out.truncate(width, overflow="ellipsis")
    return out


def link_facts(link: Link, *, configured_language: str = "") -> Text:
    """What the link allows, one fact a line (user text appended, never parsed as markup)."""
    text = Text()
    facts = [
        ("State", f"{link.state()} · {link.summary()}"),
        ("Level", link.level),
        ("Language", language_words(link.language, configured=configured_language)),
        ("Join mode", "automatic" if link.auto_accept else "each signup waits for approval"),
        ("Confirm email", "yes" if link.confirm_email else "no"),
        ("Link password", "yes" if link.has_password else "no"),
        ("Only emails at", format_domains(link.domains) or "any domain"),
        ("Created", f"{ago(link.created_at)} by {link.created_by or 'unknown'}"),
    ]
    for index, (name, value) in enumerate(facts):
        if index:
            text.append("\n")
        text.append(f"{name:<15}", style="bold")
        text.append(value)
    return text


class LinkDetailsScreen(ModalScreen[None]):
    CSS_PATH = "link_details.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back"),
        Binding("c", "copy", "Copy URL"),
        Binding("q", "qr", "QR code"),
    ]

    def __init__(self, link: Link, url: str, members: list[User]) -> None:
        super().__init__()
        self.link = link
        self.url = url
        self.members = members

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.link.label or f"Link #{self.link.id}"
            yield Static(Text(self.url), id="url")
            configured = self.app.settings.language if isinstance(self.app, Console) else ""
            yield Static(link_facts(self.link, configured_language=configured), id="facts")
            yield Static(f"Who joined ({len(self.members)})", id="joined-title")
            yield DataTable(id="members", cursor_type="row", zebra_stripes=True)
            yield Static("c copies the URL · q shows the QR code · escape goes back", id="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Name", "Email", "Joined", "State")
        spare = max(0, min(self.app.size.width, 100) - 80)
        name_width = NAME_WIDTH + spare * 2 // 5
        email_width = EMAIL_WIDTH + spare - spare * 2 // 5
        for user in self.members:
            table.add_row(
                clip(clean_line(user.name), name_width),
                clip(clean_line(user.email), email_width),
                Text(ago(user.created_at)),
                Text(user.status, style=STATUS_STYLE.get(user.status, "")),
                key=str(user.id),
            )

    def action_close(self) -> None:
        self.dismiss(None)

    def action_copy(self) -> None:
        copy_and_tell(self.app, self.url, "link", shown_here=True)

    def action_qr(self) -> None:
        self.app.push_screen(QrScreen(self.url, self.link.label or f"Link #{self.link.id}"))
