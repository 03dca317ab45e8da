"""The "New invite link" dialog (also "Edit link"): dismisses a `LinkDraft`, or None on cancel.

The dialog only collects and parses what was typed (with the store's own parsers); creating or
changing the link is the caller's business.
"""

from __future__ import annotations

from typing import ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioSet, Select, Static

from store.database.migrations import LEVELS
from store.domain.records import Level
from store.onboarding.links import (
    DEFAULT_EXPIRY,
    EXPIRY_CHOICES,
    LINK_PASSWORD_MIN,
    Link,
    LinkDraft,
    LinkError,
    format_domains,
    parse_domains,
    parse_expiry,
    parse_max_uses,
)

from ..widgets.language_select import LanguageSelect
from ..widgets.text_boxes import SafeInput
from ..widgets.toggles import Choice, Tick

DEFAULT_LEVEL: Level = "member"
KEEP = "keep"

APPROVAL_NOTE = "Unticked: each new user waits for approval (F2)."
NO_SMTP_NOTE = "Off by default: no SMTP server is configured (USHER_SMTP_URL)."
NO_CONFIRM_NOTE = (
    "Without it, the signup page tells link holders when an address already has an account."
)
CONFIRM_NO_SMTP_NOTE = "No SMTP: confirmation emails wait in the Outbox (F9) for you to pass on."
CONFIRM_NOTE = "Accounts start when the person opens the emailed link."
UNCONFIRMED_DOMAINS_WARNING = (
    'Warning: without confirmation, "Only emails at" proves nothing — anyone with this '
    "link can sign up as any address there (say ceo@). Save again to create it anyway."
)


class LinkFormDialog(ModalScreen[LinkDraft | None]):
    CSS_PATH = "link_form.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Save", show=False),
    ]

    def __init__(
        self, *, smtp_configured: bool, link: Link | None = None, configured_language: str = ""
    ) -> None:
        super().__init__()
        self._smtp = smtp_configured
        self._configured_language = configured_language
        """USHER_LANGUAGE, which the "default" option names."""
        self._link = link
        self._warned: LinkDraft | None = None
        """The draft the domains warning was shown for (consent is saving it again)."""

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        link = self._link
        with Vertical() as box:
            box.border_title = "Edit invite link" if link else "New invite link"
            with Horizontal(classes="row", id="label-row"):
                yield Label("Label", classes="name")
                yield SafeInput(
                    value=link.label if link else "",
                    placeholder="e.g. Spring cohort (only admins see it)",
                    id="label",
                    compact=True,
                )
            with Horizontal(classes="row"):
                yield Label("User level", classes="name")
                level = link.level if link else DEFAULT_LEVEL
                with RadioSet(id="level", compact=True):
                    for value in LEVELS:
                        yield Choice(
                            value.capitalize(), value=value == level, name=value, compact=True
                        )
            yield Tick(
                "Automatically accept new users created using this link",
                value=link.auto_accept if link else True,
                id="auto-accept",
                compact=True,
            )
            yield Static(APPROVAL_NOTE, classes="note", id="approval-note")
            yield Tick(
                "Confirm the email address first",
                value=link.confirm_email if link else self._smtp,
                id="confirm",
                compact=True,
            )
            yield Static("", classes="note", id="confirm-note")
            with Horizontal(classes="row"):
                yield Tick(
                    "Require a password to use this link",
                    value=bool(link and link.has_password),
                    id="use-password",
                    compact=True,
                )
                yield SafeInput(
                    password=True,
                    placeholder="unchanged" if link and link.has_password else "to share",
                    id="password",
                    compact=True,
                )
            with Horizontal(classes="row"):
                yield Label("Expires", classes="name")
                yield Select(
                    self._expiry_options(),
                    value=self._expiry_default(),
                    allow_blank=False,
                    id="expires",
                    compact=True,
                )
                yield Label("Max uses", classes="gap")
                yield SafeInput(
                    value="" if link is None or link.max_uses is None else str(link.max_uses),
                    placeholder="no cap",
                    id="max-uses",
                    compact=True,
                )
            with Horizontal(classes="row"):
                yield Label("Only emails at", classes="name")
                yield SafeInput(
                    value=format_domains(link.domains) if link else "",
                    placeholder="acme.org, *.acme.org (empty: any address)",
                    id="domains",
                    compact=True,
                )
            with Horizontal(classes="row"):
                yield Label("Language", classes="name")
                yield LanguageSelect(
                    configured=self._configured_language,
                    value=link.language if link else None,
                    id="language",
                )
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(
                    "Save changes" if link else "Create link",
                    id="submit",
                    variant="primary",
                    compact=True,
                )

    def _expiry_options(self) -> list[tuple[str, str]]:
        options = list(EXPIRY_CHOICES)
        if self._link is not None:
            current = self._link.expires_text()
            options.insert(0, (f"Keep: {current}", KEEP))
        return options

    def _expiry_default(self) -> str:
        if self._link is not None:
            return KEEP
        default_days = f"{DEFAULT_EXPIRY.days}d"
        return default_days

    def on_mount(self) -> None:
        levels = self.query_one("#level", RadioSet)
        # The arrow keys start from the chosen level (Textual starts from the first button).
        levels._selected = levels.pressed_index if levels.pressed_index >= 0 else None
        self._refresh_notes()
        self.query_one("#label", Input).focus()

    # ---------------------------------------------------------------- behaviour

    @on(Checkbox.Changed)
    def _checkbox_changed(self, event: Checkbox.Changed) -> None:
        # Ticking "Require a password" only enables the field, which is next in tab order:
        # moving the focus there unseen made the following Tab skip it (the password was lost).
        self._refresh_notes()

    def _refresh_notes(self) -> None:
        confirm = self.query_one("#confirm", Checkbox).value
        note = self.query_one("#confirm-note", Static)
        if not confirm:
            note.update(
                Text(NO_CONFIRM_NOTE if self._smtp else NO_SMTP_NOTE + " " + NO_CONFIRM_NOTE)
            )
        else:
            note.update(Text(CONFIRM_NOTE if self._smtp else CONFIRM_NO_SMTP_NOTE))
        auto = self.query_one("#auto-accept", Checkbox).value
        self.query_one("#approval-note", Static).display = not auto
        use_password = self.query_one("#use-password", Checkbox).value
        self.query_one("#password", Input).disabled = not use_password

    @on(Input.Submitted)
    def _enter_submits(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        try:
            draft = self._draft()
        except _FieldError as error:
            self.query_one("#error", Static).update(Text(str(error)))
            widget = self.query_one(f"#{error.field}")
            widget.focus()
            return
        if draft.domains and not draft.confirm_email and not draft.allow_unconfirmed_domains:
            self._warned = draft  # asks once: saving this same draft again is the consent
            self.query_one("#error", Static).update(Text(UNCONFIRMED_DOMAINS_WARNING))
            return
        self.dismiss(draft)

    def _draft(self) -> LinkDraft:
        level_set = self.query_one("#level", RadioSet)
        pressed = level_set.pressed_button
        level = cast(Level, pressed.name if pressed and pressed.name else DEFAULT_LEVEL)
        use_password = self.query_one("#use-password", Checkbox).value
        typed_password = self.query_one("#password", Input).value
        keep_password = False
        password: str | None = None
        if use_password:
            if typed_password:
                if len(typed_password) < LINK_PASSWORD_MIN:
                    raise _FieldError(
                        "password",
                        f"Link password: use at least {LINK_PASSWORD_MIN} characters.",
                    )
                password = typed_password
            elif self._link is not None and self._link.has_password:
                keep_password = True
            else:
                raise _FieldError("password", "Link password: type one, or untick the box.")
        expires_value = str(self.query_one("#expires", Select).value)
        keep_expiry = expires_value == KEEP
        expires_in = None if keep_expiry else parse_expiry(expires_value)
        try:
            max_uses = parse_max_uses(self.query_one("#max-uses", Input).value)
        except LinkError as error:
            raise _FieldError("max-uses", f"Max uses: {error}.") from None
        try:
            domains = parse_domains(self.query_one("#domains", Input).value)
        except LinkError as error:
            raise _FieldError("domains", f"Only emails at: {error}.") from None
        confirm = self.query_one("#confirm", Checkbox).value
        return LinkDraft(
            label=self.query_one("#label", Input).value,
            level=level,
            password=password,
            keep_password=keep_password,
            auto_accept=self.query_one("#auto-accept", Checkbox).value,
            confirm_email=confirm,
            expires_in=expires_in,
            keep_expiry=keep_expiry,
            max_uses=max_uses,
            domains=domains,
            allow_unconfirmed_domains=self._consented(domains, confirm),
            language=self.query_one("#language", LanguageSelect).language,
        )

    def _consented(self, domains: tuple[str, ...], confirm: bool) -> bool:
        """True once the warning was shown for these same domains without confirmation."""
        warned = self._warned
        return (
            warned is not None
            and not confirm
            and tuple(warned.domains) == tuple(domains)
            and not warned.confirm_email
        )


class _FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


__all__ = ["LinkFormDialog"]
