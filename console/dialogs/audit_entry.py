"""One audit entry in full: what the table clips or leaves out (the reason of a rejection, a
level from → to, every other detail recorded). Enter on a row opens it; escape closes."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from store.domain.records import AuditEntry
from store.domain.text import clean_line, clean_text

LABELS = {"user_id": "User id", "link_id": "Link id", "reason": "Reason", "level": "Level"}


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(clean_line(str(v)) for v in value)
    if value is None or value == "":
        return "—"
    return clean_text(str(value))


def entry_text(entry: AuditEntry) -> Text:
    """Label and value a line, every value as plain text (never markup)."""
    text = Text()

    def line(label: str, value: str) -> None:
        text.append(f"{label:<9}", style="bold")
        text.append(value + "\n")

    line("When", entry.at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"))
    line("Actor", clean_line(entry.actor))
    line("Action", entry.action.replace("_", " "))
    line("Subject", clean_line(entry.subject) or "—")
    try:
        details = entry.detail_values()
    except Exception:
        details = {"details": entry.details}
    if not isinstance(details, dict):
        details = {"details": details}
    if "from" in details or "to" in details:
        moved = f"{_value(details.pop('from', None))} → {_value(details.pop('to', None))}"
        line("Level" if entry.action.startswith("level") else "Changed", moved)
    if "reason" in details or entry.action == "rejected":
        reason = clean_text(str(details.pop("reason", "") or "")).strip()
        text.append(f"{'Reason':<9}", style="bold")
        text.append((reason or "none given") + "\n", style="" if reason else "dim")
    for key, value in details.items():
        line(LABELS.get(key, key.replace("_", " ").capitalize())[:8], _value(value))
    text.rstrip()
    return text


class AuditEntryDialog(ModalScreen[None]):
    CSS_PATH = "audit_entry.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter", "close", "Back")]

    def __init__(self, entry: AuditEntry) -> None:
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Audit entry #{self.entry.id}"
            with VerticalScroll():
                yield Static(entry_text(self.entry), id="entry")
            with Horizontal():
                yield Button("Back", id="back", variant="primary", compact=True)

    @on(Button.Pressed, "#back")
    def action_close(self) -> None:
        self.dismiss(None)
