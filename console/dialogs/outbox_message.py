"""One outbox message, read-only: its envelope, state and text body. Tokens are hidden unless
the message is `kept` (then the admin passes the link on by hand, so it is shown in full)."""

from __future__ import annotations

import textwrap
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from store.domain.clock import ago
from store.domain.text import clean_text
from store.messaging.emails import TemplateProblem
from store.messaging.outbox import OutboxMessage, render_for_view
from store.service.settings import Settings

from .copied import copy_and_tell


def describe(message: OutboxMessage, subject: str) -> Text:
    """The envelope and state as label/value lines (values are data, never markup)."""
    text = Text()
    to = (
        f"{message.recipient_name} <{message.recipient}>"
        if message.recipient_name
        else message.shown_recipient
    )
    created = f"{message.created_at.astimezone():%Y-%m-%d %H:%M:%S} ({ago(message.created_at)})"
    if message.sent_at:
        created += f" · sent {message.sent_at.astimezone():%Y-%m-%d %H:%M:%S}"
    tries = f"{message.attempts} attempt{'' if message.attempts == 1 else 's'}"
    lines = [
        ("To", to),
        ("Subject", subject),
        ("Status", f"{message.status} · {message.kind} · {tries}"),
        ("Created", created),
        ("Event id" if message.is_webhook else "Message-ID", message.message_id),
    ]
    if message.last_error:
        lines.append(("Last error", message.last_error))
    for label, value in lines:
        text.append(f"{label:<11}", style="bold")
        text.append(clean_text(value).replace("\n", " "))
        text.append("\n")
    text.rstrip()
    return text


def wrapped_body(body: str, width: int) -> str:
    """Lines wrapped at spaces to `width`, never inside a word: a URL stays whole on its own
    line (wider ones scroll sideways), so it can be read and selected in one piece."""
    out: list[str] = []
    for line in body.splitlines():
        out.extend(
            textwrap.wrap(line, max(width, 20), break_long_words=False, break_on_hyphens=False)
            or [""]
        )
    return "\n".join(out)


class OutboxMessageDialog(ModalScreen[None]):
    CSS_PATH = "outbox_message.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close"),
        Binding("c", "copy", "Copy body"),
    ]

    def __init__(self, message: OutboxMessage, settings: Settings) -> None:
        super().__init__()
        self.message = message
        self._body = ""
        try:
            rendered = render_for_view(message, settings)
            self._subject, self._body = rendered.subject, rendered.text
        except TemplateProblem as error:
            self._subject = "(cannot be shown)"
            self._body = f"This message cannot be shown: {error}"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(describe(self.message, self._subject), id="envelope")
            if self.message.status == "kept":
                note = (
                    "Kept: no SMTP server was configured when it was written. Pass the text "
                    "(with its link) on by hand — c copies it — or send the kept messages "
                    "once SMTP is set up."
                )
                yield Static(note, id="note", markup=False)
            elif self.message.secret_keys:
                yield Static(
                    "Links with tokens are hidden: only kept messages show them.",
                    id="note",
                    markup=False,
                )
            with ScrollableContainer(id="body-scroll"):
                yield Static(id="body")
        yield Footer()

    def on_resize(self) -> None:
        self.call_after_refresh(self._wrap)

    def on_mount(self) -> None:
        self._wrap()
        self.call_after_refresh(self._wrap)

    def _wrap(self) -> None:
        scroll = self.query_one("#body-scroll")
        width = (scroll.size.width or self.app.size.width - 4) - 2  # room for the scroll bar
        self.query_one("#body", Static).update(Text(wrapped_body(clean_text(self._body), width)))

    @property
    def body(self) -> str:
        return self._body

    def action_close(self) -> None:
        self.dismiss(None)

    def action_copy(self) -> None:
        copy_and_tell(self.app, self._body, "message text", shown_here=True)
